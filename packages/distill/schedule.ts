import { DistillError } from "./errors.ts";

/** A learning rate as a function of the global step (0-based). */
export type LearningRateSchedule = (step: number) => number;

/** Options for {@linkcode cosineSchedule}. */
export interface CosineScheduleOptions {
  /** The peak learning rate, reached at the end of warmup. */
  baseLearningRate: number;
  /** Total number of steps of the run. */
  totalSteps: number;
  /** Steps of linear warmup from ~0 to the peak (default 0). */
  warmupSteps?: number;
  /** The learning rate at the last step (default 0). */
  minLearningRate?: number;
}

/**
 * Linear warmup to `baseLearningRate`, then cosine decay to
 * `minLearningRate` at `totalSteps`; steps past the end stay at the minimum.
 * Warmup step `s` uses `base * (s + 1) / warmupSteps`, so the first step
 * already moves the weights.
 */
export function cosineSchedule(
  options: CosineScheduleOptions,
): LearningRateSchedule {
  const base = options.baseLearningRate;
  const total = options.totalSteps;
  const warmup = options.warmupSteps ?? 0;
  const min = options.minLearningRate ?? 0;
  if (!(base > 0) || !Number.isFinite(base)) {
    throw new DistillError(
      `cosineSchedule: baseLearningRate must be positive, got ${base}`,
      { code: "bad-options" },
    );
  }
  if (!Number.isInteger(total) || total < 1) {
    throw new DistillError(
      `cosineSchedule: totalSteps must be a positive integer, got ${total}`,
      { code: "bad-options" },
    );
  }
  if (!Number.isInteger(warmup) || warmup < 0 || warmup > total) {
    throw new DistillError(
      `cosineSchedule: warmupSteps must be an integer in [0, totalSteps=${total}], got ${warmup}`,
      { code: "bad-options" },
    );
  }
  if (!(min >= 0 && min <= base)) {
    throw new DistillError(
      `cosineSchedule: minLearningRate must be in [0, base=${base}], got ${min}`,
      { code: "bad-options" },
    );
  }
  return (step: number): number => {
    if (step < warmup) return (base * (step + 1)) / warmup;
    const decaySteps = total - warmup;
    if (decaySteps <= 0) return base;
    const progress = Math.min(1, (step - warmup) / decaySteps);
    return min + 0.5 * (base - min) * (1 + Math.cos(Math.PI * progress));
  };
}

/** A schedule that always returns `learningRate`. */
export function constantSchedule(learningRate: number): LearningRateSchedule {
  if (!(learningRate > 0)) {
    throw new DistillError(
      `constantSchedule: learningRate must be positive, got ${learningRate}`,
      { code: "bad-options" },
    );
  }
  return () => learningRate;
}
