import { fingerprintContent } from "./hash.ts";
import type { ImageDataset, ImageShape } from "./types.ts";

/**
 * The data set of `images` (uint8 NHWC) and `labels`, its count taken from
 * the labels and its fingerprint from the content, as every loader returns.
 */
export function contentDataset(
  name: string,
  images: Uint8Array,
  labels: Int32Array,
  shape: ImageShape,
  classNames: string[],
): ImageDataset {
  return {
    name,
    images,
    labels,
    count: labels.length,
    height: shape.height,
    width: shape.width,
    channels: shape.channels,
    classNames,
    fingerprint: fingerprintContent(images, labels, shape, classNames),
  };
}
