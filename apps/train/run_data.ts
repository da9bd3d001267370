import {
  type AugmentSpec,
  computeNormalization,
  defaultAugmentation,
  type ImageDataset,
  knownNormalization,
  loadDataset,
  type Normalization,
  subsetPerClass,
} from "@vitkd/data";
import type { ModelMetaInput } from "@vitkd/models";
import { streamSeed } from "./seed_streams.ts";
import type { TrainConfig } from "./config.ts";
import { ProgressBar, type ProgressSink } from "./progress.ts";

/** The data of a run: the training subset, the test subset and how to feed them. */
export interface RunData {
  /** Training images (the per-class subset when the config asks for one). */
  train: ImageDataset;
  /** Test images used for evaluation. */
  test: ImageDataset;
  /** Input normalisation (published constants when known, else computed on `train`). */
  normalization: Normalization;
  /** The training augmentation; `undefined` when `--no-augment`. */
  augment?: AugmentSpec;
}

/** Loads and subsets the data a config names; the same config gives the same data. */
export async function loadRunData(
  config: TrainConfig,
  cacheDir: string,
  sink?: ProgressSink,
): Promise<RunData> {
  const load = async (split: "train" | "test") => {
    let bar: ProgressBar | undefined;
    const ds = await loadDataset({
      kind: config.dataset.kind,
      path: config.dataset.path,
      cacheDir,
      onProgress: ({ done, total }) => {
        bar ??= new ProgressBar({
          label: `decode ${split}`,
          total,
          unit: "img",
          sink,
        });
        bar.update(done);
      },
    }, split);
    bar?.finish();
    return ds;
  };
  const fullTrain = await load("train");
  const fullTest = await load("test");
  const train = config.perClass === null ? fullTrain : subsetPerClass(
    fullTrain,
    config.perClass,
    streamSeed(config.seed, "trainSubset"),
  );
  const test = config.testPerClass === null ? fullTest : subsetPerClass(
    fullTest,
    config.testPerClass,
    streamSeed(config.seed, "testSubset"),
  );
  const normalization = knownNormalization(config.dataset.kind) ??
    computeNormalization(train);
  return {
    train,
    test,
    normalization,
    augment: config.augment
      ? defaultAugmentation(config.dataset.kind)
      : undefined,
  };
}

/**
 * What a saved model records of the data it trained on: class names, input
 * shape and normalisation, and the training set's fingerprint.
 */
export function trainedOn(
  data: Pick<RunData, "train" | "normalization">,
): Pick<ModelMetaInput, "classNames" | "input" | "dataFingerprint"> {
  return {
    classNames: data.train.classNames,
    input: {
      height: data.train.height,
      width: data.train.width,
      channels: data.train.channels,
      normalization: data.normalization,
    },
    dataFingerprint: data.train.fingerprint,
  };
}
