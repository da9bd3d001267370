import {
  assert,
  assertEquals,
  assertNotEquals,
  assertThrows,
} from "@std/assert";
import {
  augmentImage,
  type AugmentSpec,
  defaultAugmentation,
  describeView,
} from "./augment.ts";
import { DataError } from "./errors.ts";
import { hashBytes } from "./hash.ts";
import { pattern } from "./_testing.ts";

const shape = { height: 8, width: 8, channels: 3 };
const src = pattern(8 * 8 * 3, 9);

Deno.test("augmentImage: the same seed gives the same bytes, seeds differ", () => {
  const spec: AugmentSpec = {
    padding: 2,
    flip: true,
    brightness: 0.3,
    contrast: 0.3,
  };
  const views = new Set<string>();
  for (let seed = 0; seed < 40; seed++) {
    const a = augmentImage(src, shape, spec, seed);
    assertEquals(augmentImage(src, [8, 8, 3], spec, seed), a);
    views.add(hashBytes(a));
  }
  assert(views.size > 30, `only ${views.size} distinct views`);
  assertEquals(src, pattern(8 * 8 * 3, 9), "source untouched");
});

Deno.test("augmentImage: pinned view (stored teacher logits rely on it)", () => {
  const out = augmentImage(pattern(32 * 32 * 3, 5), [32, 32, 3], {
    padding: 4,
    flip: true,
    brightness: 0.2,
    contrast: 0.2,
    erasing: { probability: 1 },
  }, 99);
  assertEquals(hashBytes(out), "2d715db8585ed436f3767d9367f147fa");
});

Deno.test("augmentImage: padding 0 without flip is the identity", () => {
  for (let seed = 0; seed < 5; seed++) {
    assertEquals(
      augmentImage(src, shape, { padding: 0, flip: false }, seed),
      src,
    );
  }
});

Deno.test("augmentImage: crop shifts content and fills the border with zeros", () => {
  const spec = { padding: 3, flip: false };
  for (let seed = 0; seed < 20; seed++) {
    const view = describeView(shape, spec, seed);
    const out = augmentImage(src, shape, spec, seed);
    const dx = view.offsetX - 3, dy = view.offsetY - 3;
    for (let y = 0; y < 8; y++) {
      for (let x = 0; x < 8; x++) {
        const sy = y + dy, sx = x + dx;
        for (let c = 0; c < 3; c++) {
          const expected = sy < 0 || sy >= 8 || sx < 0 || sx >= 8
            ? 0
            : src[(sy * 8 + sx) * 3 + c];
          assertEquals(out[(y * 8 + x) * 3 + c], expected);
        }
      }
    }
  }
});

Deno.test("augmentImage: flip mirrors exactly when the view says so, about half the time", () => {
  let flips = 0;
  for (let seed = 0; seed < 200; seed++) {
    const view = describeView(shape, { padding: 0, flip: true }, seed);
    const out = augmentImage(src, shape, { padding: 0, flip: true }, seed);
    if (view.flip) flips++;
    for (let x = 0; x < 8; x++) {
      const sx = view.flip ? 7 - x : x;
      assertEquals(out[(2 * 8 + x) * 3 + 1], src[(2 * 8 + sx) * 3 + 1]);
    }
  }
  assert(flips > 70 && flips < 130, `${flips} flips of 200`);
});

Deno.test("augmentImage: extras leave crop and flip of a view unchanged", () => {
  for (let seed = 0; seed < 20; seed++) {
    const plain = describeView(shape, { padding: 2, flip: true }, seed);
    const rich = describeView(shape, {
      padding: 2,
      flip: true,
      brightness: 0.4,
      erasing: { probability: 0.5 },
    }, seed);
    assertEquals([rich.offsetX, rich.offsetY, rich.flip], [
      plain.offsetX,
      plain.offsetY,
      plain.flip,
    ]);
  }
});

Deno.test("augmentImage: erasing replaces a rectangle inside the image", () => {
  const flat = new Uint8Array(16 * 16).fill(0);
  const spec = {
    padding: 0,
    flip: false,
    erasing: { probability: 1, minArea: 0.1, maxArea: 0.2 },
  };
  const view = describeView([16, 16, 1], spec, 5);
  const e = view.erase!;
  assert(e.x >= 0 && e.y >= 0 && e.x + e.width <= 16 && e.y + e.height <= 16);
  const out = augmentImage(flat, [16, 16, 1], spec, 5);
  let changedOutside = 0, changedInside = 0;
  for (let y = 0; y < 16; y++) {
    for (let x = 0; x < 16; x++) {
      const inside = x >= e.x && x < e.x + e.width && y >= e.y &&
        y < e.y + e.height;
      if (out[y * 16 + x] !== 0) inside ? changedInside++ : changedOutside++;
    }
  }
  assertEquals(changedOutside, 0);
  assert(changedInside > 0);
});

Deno.test("augmentImage: brightness and contrast stay within 0..255 and change pixels", () => {
  const out = augmentImage(src, shape, {
    padding: 0,
    flip: false,
    brightness: 0.5,
    contrast: 0.5,
  }, 3);
  assertNotEquals(out, src);
  assertThrows(
    () => augmentImage(src.subarray(1), shape, { padding: 0, flip: false }, 1),
    DataError,
  );
});

Deno.test("defaultAugmentation: no flip for digits, flip for CIFAR", () => {
  assertEquals(defaultAugmentation("mnist"), { padding: 2, flip: false });
  assertEquals(defaultAugmentation("idx").flip, false);
  assertEquals(defaultAugmentation("cifar10-folder"), {
    padding: 4,
    flip: true,
  });
  assertEquals(defaultAugmentation("cifar-binary"), { padding: 4, flip: true });
  assertThrows(() => defaultAugmentation("bogus"), DataError, "bogus");
});
