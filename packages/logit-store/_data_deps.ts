// The few parts of @vitkd/data that precompute needs, in one place.
export {
  augmentImage,
  type AugmentSpec,
  type ImageDataset,
  type Normalization,
  normalizeImages,
  viewSeed,
} from "@vitkd/data";
