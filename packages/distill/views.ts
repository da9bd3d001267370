import { hashSeed } from "@vitkd/data";

// keeps view choices apart from other uses of hashSeed(seed, epoch, index)
const VIEW_CHOICE_TAG = 0x76696577;

/**
 * The stored view (in `[0, views)`) that the student trains on for image
 * `imageIndex` in epoch `epoch`: a pure function of (seed, epoch, image), so
 * a resumed run picks the same views as an uninterrupted one.
 */
export function chooseView(
  seed: number,
  epoch: number,
  imageIndex: number,
  views: number,
): number {
  if (!(Number.isInteger(views) && views > 0)) {
    throw new Error(
      `chooseView: views must be a positive integer, got ${views}`,
    );
  }
  for (
    const [name, value] of [
      ["seed", seed],
      ["epoch", epoch],
      ["imageIndex", imageIndex],
    ] as const
  ) {
    if (!(Number.isSafeInteger(value) && value >= 0)) {
      throw new Error(
        `chooseView: ${name} must be a non-negative integer, got ${value}`,
      );
    }
  }
  if (views === 1) return 0;
  return hashSeed(VIEW_CHOICE_TAG, seed, epoch, imageIndex) % views;
}
