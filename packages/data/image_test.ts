import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertMatch,
  assertThrows,
} from "@std/assert";
import { DataError } from "./errors.ts";
import {
  convertChannels,
  decodeImage,
  prepareImage,
  resizeImage,
  sniffImageFormat,
} from "./image.ts";
import { encodeJpeg, encodePng, pattern } from "./_testing.ts";
import type { DecodedImage } from "./types.ts";

Deno.test("decodeImage: PNG round trip, RGB and grey", () => {
  const rgb = pattern(5 * 4 * 3, 1);
  const decoded = decodeImage(encodePng(5, 4, 3, rgb));
  assertEquals([decoded.width, decoded.height, decoded.channels], [5, 4, 3]);
  assertEquals(decoded.data, rgb);
  const grey = pattern(6 * 3, 2);
  const g = decodeImage(encodePng(6, 3, 1, grey));
  assertEquals([g.width, g.height, g.channels], [6, 3, 1]);
  assertEquals(g.data, grey);
});

Deno.test("decodeImage: JPEG decodes close to the source", () => {
  const rgb = new Uint8Array(16 * 16 * 3);
  for (let i = 0; i < rgb.length; i += 3) {
    rgb[i] = 200;
    rgb[i + 1] = 100;
    rgb[i + 2] = 50;
  }
  const bytes = encodeJpeg(16, 16, rgb, 95);
  assertEquals(sniffImageFormat(bytes), "jpeg");
  const decoded = decodeImage(bytes);
  assertEquals([decoded.width, decoded.height, decoded.channels], [16, 16, 3]);
  for (let i = 0; i < rgb.length; i++) {
    assert(Math.abs(decoded.data[i] - rgb[i]) <= 4, `pixel byte ${i}`);
  }
});

Deno.test("decodeImage: unknown, truncated and corrupt data give DataError naming the source", () => {
  const unknown = assertThrows(
    () => decodeImage(new Uint8Array([1, 2, 3, 4, 5]), "a.bin"),
    DataError,
  );
  assertMatch(unknown.message, /^a\.bin: unknown image format/);
  const jpegBytes = encodeJpeg(16, 16, pattern(16 * 16 * 3));
  const truncated = assertThrows(
    () => decodeImage(jpegBytes.subarray(0, jpegBytes.length >> 1), "t.jpg"),
    DataError,
  );
  assertMatch(truncated.message, /t\.jpg: corrupt or truncated JPEG/);
  const pngBytes = encodePng(8, 8, 3, pattern(8 * 8 * 3));
  const broken = pngBytes.slice();
  broken.fill(0, 40, 60);
  const e = assertThrows(() => decodeImage(broken, "b.png"), DataError);
  assertMatch(e.message, /b\.png: corrupt or truncated PNG/);
  assertInstanceOf(
    assertThrows(() => decodeImage(pngBytes.subarray(0, 30), "c.png")),
    DataError,
  );
  assertInstanceOf(
    assertThrows(() => decodeImage(new Uint8Array(0))),
    DataError,
  );
});

function solid(
  width: number,
  height: number,
  channels: number,
  value: number,
): DecodedImage {
  return {
    width,
    height,
    channels,
    data: new Uint8Array(width * height * channels).fill(value),
  };
}

Deno.test("resizeImage: constant stays constant, up and down", () => {
  for (const [w, h] of [[7, 5], [64, 48], [1, 1], [32, 32]]) {
    const out = resizeImage(solid(20, 10, 3, 77), w, h);
    assertEquals([out.width, out.height, out.channels], [w, h, 3]);
    assert(out.data.every((v) => v === 77), `${w}x${h}`);
  }
});

Deno.test("resizeImage: halving averages 2x2 blocks; same size is identity", () => {
  const src: DecodedImage = {
    width: 4,
    height: 2,
    channels: 1,
    data: new Uint8Array([0, 100, 200, 200, 100, 0, 40, 40]),
  };
  const out = resizeImage(src, 2, 1);
  // each output's triangle filter covers its 2x2 block and, with less weight, neighbours
  assert(out.data[0] < out.data[1], `${out.data}`);
  assert(
    Math.abs(out.data[0] - 50) <= 25 && Math.abs(out.data[1] - 120) <= 30,
    `${out.data}`,
  );
  assertEquals(resizeImage(src, 4, 2), src);
  assertThrows(() => resizeImage(src, 0, 3), DataError);
});

Deno.test("resizeImage: a left-right ramp stays a monotone ramp when shrunk", () => {
  const w = 64;
  const data = new Uint8Array(w * 8);
  for (let y = 0; y < 8; y++) {
    for (let x = 0; x < w; x++) data[y * w + x] = x * 4;
  }
  const out = resizeImage({ width: w, height: 8, channels: 1, data }, 8, 2);
  for (let x = 1; x < 8; x++) assert(out.data[x] > out.data[x - 1]);
});

Deno.test("convertChannels: grey <-> RGB", () => {
  const rgb: DecodedImage = {
    width: 2,
    height: 1,
    channels: 3,
    data: new Uint8Array([255, 0, 0, 10, 20, 30]),
  };
  const grey = convertChannels(rgb, 1);
  assertEquals([...grey.data], [76, 18]);
  const back = convertChannels(grey, 3);
  assertEquals([...back.data], [76, 76, 76, 18, 18, 18]);
  assertEquals(convertChannels(rgb, 3), rgb);
});

Deno.test("prepareImage: decode + channels + resize for serving", () => {
  const out = prepareImage(encodePng(40, 20, 3, pattern(40 * 20 * 3)), {
    width: 28,
    height: 28,
    channels: 1,
  });
  assertEquals([out.width, out.height, out.channels, out.data.length], [
    28,
    28,
    1,
    784,
  ]);
});
