/**
 * What the fair comparison runs: the budgets (sizes and seeds), the teachers
 * and the student arms. Every arm of a seed sees the same training images,
 * the same stored augmented views in the same order, the same student
 * initialisation and the same total distillation weight; only which
 * teachers' logits fill the distillation terms changes.
 *
 * @module
 */
import { hashSeed } from "@vitkd/data";

/** The student's architecture: a registered ViT plus size overrides. */
export interface StudentSpec {
  /** Registered model name. */
  name: string;
  /** Patch size. */
  patchSize: number;
  /** Token width. */
  dim: number;
  /** Transformer blocks. */
  depth: number;
  /** Attention heads. */
  numHeads: number;
  /** Hidden width of each block's MLP. */
  mlpDim: number;
}

/** A named set of sizes for the whole comparison. */
export interface FairBudget {
  /** Training images per class (the low-data subset). */
  perClass: number;
  /** Validation images per class, drawn from the training images the subset leaves unused. */
  valPerClass: number;
  /** Test images per class; `"all"` is the whole 10,000-image test split. */
  testPerClass: number | "all";
  /** The CNN teacher's registered kind. */
  cnn: string;
  /** The INN teacher's registered kind. */
  inn: string;
  /** Teacher epochs. */
  teacherEpochs: number;
  /** Teacher batch size. */
  teacherBatchSize: number;
  /** Teacher peak learning rate. */
  teacherLearningRate: number;
  /** Teacher label smoothing: 0, since smoothed teachers distill worse (Müller et al. 2019). */
  teacherLabelSmoothing: number;
  /** The student. */
  student: StudentSpec;
  /** Student epochs. */
  epochs: number;
  /** Student batch size. */
  batchSize: number;
  /** Student peak learning rate. */
  learningRate: number;
  /** AdamW decoupled weight decay (teachers and students). */
  weightDecay: number;
  /** Student warmup epochs. */
  warmup: number;
  /** Label smoothing of the student's class-head cross-entropy (every arm alike). */
  labelSmoothing: number;
  /** Distillation temperature. */
  tau: number;
  /** Total weight of the distillation terms, split evenly over an arm's tokens. */
  distillWeight: number;
  /** Stored augmented views per image (every arm, the no-teacher one too, trains on these). */
  views: number;
  /** Seeds, each a paired replicate. */
  seeds: number[];
  /** tfjs backend of the students. */
  backend: string;
  /** tfjs backend of the teachers (their training and the precompute). */
  teacherBackend: string;
  /** What it needs and how long it takes, for the report. */
  needs: string;
}

/** The budgets `--budget` accepts. */
export const FAIR_BUDGETS: Record<string, FairBudget> = {
  tiny: {
    perClass: 20,
    valPerClass: 10,
    testPerClass: 20,
    cnn: "resnet8",
    inn: "rednet8",
    teacherEpochs: 1,
    teacherBatchSize: 50,
    teacherLearningRate: 5e-3,
    teacherLabelSmoothing: 0,
    student: {
      name: "vit-tiny",
      patchSize: 8,
      dim: 32,
      depth: 1,
      numHeads: 2,
      mlpDim: 64,
    },
    epochs: 2,
    batchSize: 50,
    learningRate: 1e-3,
    weightDecay: 0.05,
    warmup: 1,
    labelSmoothing: 0.1,
    tau: 1,
    distillWeight: 2,
    views: 2,
    seeds: [0, 1],
    backend: "auto",
    teacherBackend: "auto",
    needs: "a few minutes on 2 CPU cores (most of it decoding CIFAR-10 once)",
  },
  cpu: {
    perClass: 500,
    valPerClass: 100,
    testPerClass: "all",
    cnn: "resnet8",
    inn: "rednet8",
    teacherEpochs: 10,
    teacherBatchSize: 64,
    teacherLearningRate: 5e-3,
    teacherLabelSmoothing: 0,
    // dim 64, depth 3: chosen by the time budget and a validation probe
    // (docs/results/cpu/README.md)
    student: {
      name: "vit-tiny",
      patchSize: 4,
      dim: 64,
      depth: 3,
      numHeads: 4,
      mlpDim: 128,
    },
    epochs: 15,
    batchSize: 64,
    learningRate: 1e-3,
    weightDecay: 0.05,
    warmup: 2,
    labelSmoothing: 0.1,
    tau: 1,
    distillWeight: 2,
    views: 8,
    seeds: [0, 1, 2, 3, 4],
    backend: "auto",
    teacherBackend: "auto",
    needs:
      "2 quiet CPU cores (wasm + OpenBLAS): 27 min a seed measured (four teachers and their stores 11m45s, five learned-token students ~2m10s each, the stem-token student ~4 min), about 2 h 15 min for five seeds; 33-42 min a seed on a shared machine; resumable across machines",
  },
  gpu: {
    perClass: 500,
    valPerClass: 100,
    testPerClass: "all",
    cnn: "resnet20",
    inn: "rednet20",
    teacherEpochs: 30,
    teacherBatchSize: 64,
    teacherLearningRate: 5e-3,
    teacherLabelSmoothing: 0,
    // DeiT-Ti (dim 192, depth 12, 3 heads, MLP 768) at patch 4: 5.4 M
    // parameters, about 0.75 GFLOP per 32x32 image forward
    student: {
      name: "vit-deit-ti",
      patchSize: 4,
      dim: 192,
      depth: 12,
      numHeads: 3,
      mlpDim: 768,
    },
    epochs: 100,
    batchSize: 128,
    learningRate: 5e-4,
    weightDecay: 0.05,
    warmup: 5,
    labelSmoothing: 0.1,
    tau: 1,
    distillWeight: 2,
    views: 16,
    seeds: [0, 1, 2, 3, 4],
    backend: "webgpu",
    teacherBackend: "webgpu",
    needs:
      "one GPU with a fast tfjs-webgpu (not yet: see the estimate in docs/results/README.md); never run here, no GPU was lent",
  },
};

/** A teacher of the comparison: its id in the arms and its registered kind. */
export interface TeacherSpec {
  /** `cnn`, `cnn2`, `inn` or `inn2`. */
  id: string;
  /** Registered model kind. */
  kind: string;
  /** Salt of its initialisation and shuffle seeds within a seed. */
  salt: number;
}

/** The four teachers of a seed: two CNNs and two INNs from different initialisations. */
export function teacherSpecs(budget: FairBudget): TeacherSpec[] {
  return [
    { id: "cnn", kind: budget.cnn, salt: 0 },
    { id: "cnn2", kind: budget.cnn, salt: 1 },
    { id: "inn", kind: budget.inn, salt: 2 },
    { id: "inn2", kind: budget.inn, salt: 3 },
  ];
}

/** One student arm. */
export interface Arm {
  /** Short id, e.g. `cnn-inn`. */
  id: string;
  /** Table label. */
  label: string;
  /** Teacher ids, in distillation-token order; empty for no distillation. */
  teachers: string[];
  /**
   * Where the distillation tokens come from: learned embeddings (DeiT) or
   * the pooled outputs of a conv and an involution stem (Co-advise).
   */
  tokens?: "learned" | "stems";
}

/** Every arm, in table order. */
export const ARMS: readonly Arm[] = [
  { id: "none", label: "no distillation", teachers: [] },
  { id: "cnn-w2", label: "CNN, one token (weight 2)", teachers: ["cnn"] },
  {
    id: "cnn-cnn",
    label: "CNN + CNN' (two tokens)",
    teachers: ["cnn", "cnn2"],
  },
  { id: "cnn-inn", label: "CNN + INN (two tokens)", teachers: ["cnn", "inn"] },
  {
    id: "inn-inn",
    label: "INN + INN' (two tokens)",
    teachers: ["inn", "inn2"],
  },
  {
    // last, so that a seed's five learned-token arms finish first
    id: "cnn-inn-stems",
    label: "CNN + INN, stem tokens (Co-advise)",
    teachers: ["cnn", "inn"],
    tokens: "stems",
  },
];

/** The comparisons of the table, `a - b`, the method's claim first. */
export const COMPARISONS: readonly { a: string; b: string; why: string }[] = [
  { a: "cnn-inn", b: "none", why: "does distillation help at all" },
  {
    a: "cnn-inn",
    b: "cnn-w2",
    why:
      "a second teacher of another bias against one teacher at the same total weight",
  },
  {
    a: "cnn-inn",
    b: "cnn-cnn",
    why: "different biases against the same bias twice (the control)",
  },
  { a: "cnn-inn", b: "inn-inn", why: "the same against two INNs" },
  { a: "cnn-w2", b: "none", why: "one CNN teacher" },
  { a: "cnn-cnn", b: "none", why: "two CNN teachers" },
  { a: "inn-inn", b: "none", why: "two INN teachers" },
  {
    a: "cnn-inn-stems",
    b: "cnn-inn",
    why: "Co-advise's stem tokens against learned (DeiT) tokens, same teachers",
  },
];

/** The loss weights of an arm: class head 1, the distillation weight split over its tokens. */
export function armWeights(budget: FairBudget, arm: Arm): number[] {
  const t = arm.teachers.length;
  return [1, ...arm.teachers.map(() => budget.distillWeight / t)];
}

/** The seeds of every random choice of a seed's runs, by purpose. */
export const SEED_SALTS = {
  trainSubset: 1,
  testSubset: 2,
  validation: 3,
  teacherInit: 100,
  teacherShuffle: 200,
  views: 300,
  studentInit: 400,
  studentShuffle: 500,
  calibration: 600,
} as const;

/** The seed for `purpose` in seed `seed` (and `extra`, e.g. a teacher's salt). */
export function seedFor(
  seed: number,
  purpose: keyof typeof SEED_SALTS,
  extra = 0,
): number {
  return hashSeed(seed, SEED_SALTS[purpose] + extra);
}

/**
 * Everything a finished result depends on, as a short key: results of
 * another key (an edited budget) are not mixed into a table.
 */
export function budgetKey(budget: FairBudget): string {
  // listed, not spread: a field added later must not change old keys
  const b = budget;
  const relevant = [
    b.perClass,
    b.valPerClass,
    b.testPerClass,
    b.cnn,
    b.inn,
    b.teacherEpochs,
    b.teacherBatchSize,
    b.teacherLearningRate,
    b.teacherLabelSmoothing,
    b.student,
    b.epochs,
    b.batchSize,
    b.learningRate,
    b.weightDecay,
    b.warmup,
    b.labelSmoothing,
    b.tau,
    b.distillWeight,
    b.views,
  ];
  return hashSeed(
    ...Array.from(new TextEncoder().encode(JSON.stringify(relevant))),
  ).toString(16).padStart(8, "0");
}
