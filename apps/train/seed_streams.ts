import { hashSeed } from "@vitkd/data";

/**
 * The independent random streams of a run, each derived from the run's seed
 * by its own salt: naming them keeps two uses from sharing a stream by
 * accident. The salts are fixed: changing one changes every run's result
 * and breaks resuming runs made before.
 */
export const SeedStream = {
  /** Which training images the `--per-class` subset keeps. */
  trainSubset: 1,
  /** Which test images the `--test-per-class` subset keeps. */
  testSubset: 2,
  /** Teacher i's initial weights: salt 100 + i. */
  teacherInit: 100,
  /** Teacher i's shuffles and augmented views in training: 200 + i. */
  teacherTraining: 200,
  /** The stored views' base seed. */
  storedViews: 300,
  /** The student's initial weights (the baseline shares them). */
  studentInit: 400,
  /** The students' shuffles and view choices in training. */
  studentTraining: 500,
  /** Teacher i's batch-norm recalibration batches: 600 + i. */
  teacherRecalibration: 600,
} as const;

/** A name of {@linkcode SeedStream}. */
export type SeedStreamName = keyof typeof SeedStream;

/**
 * The seed of stream `name` (its `index`-th member, e.g. teacher i) for a run
 * seeded with `runSeed`.
 *
 * @param runSeed The run's `--seed`.
 * @param name Which stream.
 * @param index The member of the stream (teachers count from 0).
 * @returns A 32-bit seed.
 */
export function streamSeed(
  runSeed: number,
  name: SeedStreamName,
  index = 0,
): number {
  if (!(Number.isInteger(index) && index >= 0 && index < 100)) {
    throw new RangeError(
      `streamSeed: index must be a whole number in 0..99, got ${index}`,
    );
  }
  return hashSeed(runSeed, SeedStream[name] + index);
}
