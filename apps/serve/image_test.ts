import { assertEquals, assertThrows } from "@std/assert";
import { resizeWorkBytes } from "@vitkd/data/image";
import { DEFAULT_LIMITS } from "./context.ts";
import { HttpError } from "./errors.ts";
import { checkUpload, prepareUpload } from "./image.ts";
import { encodeJpeg, encodePng, pngHeaderOnly } from "./testing.ts";

const TARGET = { height: 28, width: 28, channels: 1 };
const LIMITS = DEFAULT_LIMITS;

function status(fn: () => unknown): number {
  const error = assertThrows(fn, HttpError);
  return error.status;
}

Deno.test("checkUpload refuses from the header alone: 40,000,000 x 1 is over 16 MP, 16,000 x 1 over the aspect ratio", () => {
  // Only a signature and IHDR: nothing here could be decoded, so a refusal
  // proves the limits are read from the header.
  assertEquals(LIMITS.maxPixels, 16_000_000);
  assertThrows(
    () => checkUpload(pngHeaderOnly(40_000_000, 1), TARGET, LIMITS, "long.png"),
    HttpError,
    "long.png: image is 40000000x1 = 40000000 pixels, over the limit of 16000000 (--max-pixels)",
  );
  assertEquals(
    status(() => checkUpload(pngHeaderOnly(4001, 4000), TARGET, LIMITS, "x")),
    413,
  );
  assertThrows(
    () => checkUpload(pngHeaderOnly(16_000, 1), TARGET, LIMITS, "thin.png"),
    HttpError,
    "aspect ratio of 16000.0, over the limit of 64 (--max-aspect-ratio)",
  );
  assertEquals(
    checkUpload(pngHeaderOnly(4000, 4000), TARGET, LIMITS, "ok").width,
    4000,
  );
  assertEquals(
    checkUpload(pngHeaderOnly(6400, 100), TARGET, LIMITS, "ok").height,
    100,
  );
});

Deno.test("checkUpload bounds the resize tables, which grow with the longer side", () => {
  const work = resizeWorkBytes(32_000, 500, 224, 224, 3);
  assertEquals(work > 1_000_000, true);
  const limits = { ...LIMITS, maxResizeBytes: work - 1 };
  assertThrows(
    () =>
      checkUpload(
        pngHeaderOnly(32_000, 500),
        { height: 224, width: 224, channels: 3 },
        limits,
        "wide.png",
      ),
    HttpError,
    `needs ${work} bytes of tables, over the limit of ${work - 1}`,
  );
});

Deno.test("corrupt and truncated JPEG and PNG are 400s: no scan, cut data, cut header", () => {
  const jpeg = encodeJpeg(16, 16, (x, y) => (x * 16 + y) % 256);
  let sos = 2;
  while (!(jpeg[sos] === 0xff && jpeg[sos + 1] === 0xda)) sos++;
  const noScan = Uint8Array.from([...jpeg.subarray(0, sos), 0xff, 0xd9]);
  assertThrows(
    () => prepareUpload(noScan, TARGET, LIMITS, "noscan.jpg"),
    HttpError,
    "noscan.jpg: truncated or corrupt JPEG: no start-of-scan (SOS) marker",
  );
  assertEquals(
    status(() => prepareUpload(jpeg.slice(0, sos + 4), TARGET, LIMITS, "j")),
    400,
  );
  assertEquals(
    status(() =>
      prepareUpload(jpeg.slice(0, jpeg.length - 30), TARGET, LIMITS, "j")
    ),
    400,
  );
  const png = encodePng(16, 16, 1, (x) => x * 10);
  assertEquals(
    status(() =>
      prepareUpload(png.slice(0, png.length - 20), TARGET, LIMITS, "p")
    ),
    400,
  );
  assertEquals(
    status(() => prepareUpload(png.slice(0, 20), TARGET, LIMITS, "p")),
    400,
  );
  assertEquals(
    prepareUpload(png, TARGET, LIMITS, "p").pixels.length,
    28 * 28,
  );
});
