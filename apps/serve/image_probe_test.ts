import { assertEquals, assertThrows } from "@std/assert";
import { probeImageHeader } from "./image_probe.ts";
import { encodeJpeg, encodePng } from "./testing.ts";

Deno.test("probeImageHeader reads PNG and JPEG sizes without decoding", () => {
  assertEquals(probeImageHeader(encodePng(31, 17, 3, () => 0)), {
    format: "png",
    width: 31,
    height: 17,
  });
  assertEquals(probeImageHeader(encodeJpeg(23, 9, () => 0)), {
    format: "jpeg",
    width: 23,
    height: 9,
  });
});

Deno.test("probeImageHeader names non-images and cut-short headers", () => {
  assertThrows(() => probeImageHeader(new Uint8Array()), Error, "empty body");
  assertThrows(
    () => probeImageHeader(new TextEncoder().encode("GIF89a")),
    Error,
    "not a PNG or JPEG image (first bytes 47 49 46",
  );
  assertThrows(
    () => probeImageHeader(encodePng(4, 4, 1, () => 0).slice(0, 20)),
    Error,
    "truncated PNG",
  );
  assertThrows(
    () => probeImageHeader(encodeJpeg(4, 4, () => 0).slice(0, 30)),
    Error,
    "JPEG",
  );
});
