// Test support shared by the serve tests: image encoders and a model runner
// whose answers follow from the pixels, so tests can predict them.
import { Buffer } from "node:buffer";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { buildModel, type ModelOptions, saveModel } from "@vitkd/models";
import type {
  ModelInfo,
  ModelInput,
  ModelOutput,
  ModelRunner,
} from "./runner.ts";

/** Encodes `height * width * channels` pixels (1 or 3 channels) as PNG. */
export function encodePng(
  width: number,
  height: number,
  channels: 1 | 3,
  pixel: (x: number, y: number, c: number) => number,
): Uint8Array<ArrayBuffer> {
  const png = new PNG({ width, height });
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = (y * width + x) * 4;
      for (let c = 0; c < 3; c++) {
        png.data[at + c] = pixel(x, y, channels === 1 ? 0 : c);
      }
      png.data[at + 3] = 255;
    }
  }
  const bytes = PNG.sync.write(png, { colorType: channels === 1 ? 0 : 2 });
  return Uint8Array.from(bytes);
}

/** Encodes an RGB image as JPEG (quality 95). */
export function encodeJpeg(
  width: number,
  height: number,
  pixel: (x: number, y: number, c: number) => number,
): Uint8Array<ArrayBuffer> {
  const data = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = (y * width + x) * 4;
      for (let c = 0; c < 3; c++) data[at + c] = pixel(x, y, c);
      data[at + 3] = 255;
    }
  }
  const encoded = jpeg.encode({ data, width, height }, 95);
  return Uint8Array.from(encoded.data);
}

/** A uniform grey image of value `value`, as PNG. */
export function greyPng(
  width: number,
  height: number,
  value: number,
): Uint8Array<ArrayBuffer> {
  return encodePng(width, height, 1, () => value);
}

const CLASSES = 5;

function softmax(logits: number[]): number[] {
  const max = Math.max(...logits);
  const exps = logits.map((l) => Math.exp(l - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

/**
 * A two-head model on 8x8 grey images whose top class is the mean pixel
 * value divided into five bands (0-51 -> "c0", ..., 205-255 -> "c4"); the
 * second head, flatter, prefers the next band up. Records every batch it runs.
 */
export class BandRunner implements ModelRunner {
  /** Sizes of the batches run so far. */
  readonly batchSizes: number[] = [];
  /** Whether `dispose` was called. */
  disposed = false;
  /** What the server reports. */
  readonly info: ModelInfo = {
    name: "bands",
    version: "v1",
    classNames: Array.from({ length: CLASSES }, (_, k) => `c${k}`),
    input: {
      height: 8,
      width: 8,
      channels: 1,
      normalization: { mean: [0.5], std: [0.25] },
    },
    heads: ["class", "distill-1"],
    architecture: "band-test",
  };

  /** The band the mean pixel value falls in: the class head's answer. */
  static band(meanPixel: number): number {
    return Math.min(CLASSES - 1, Math.floor(meanPixel / (256 / CLASSES)));
  }

  /** Probabilities of both heads and their mean for one image's mean pixel. */
  static scores(meanPixel: number): { mean: number[]; heads: number[][] } {
    const band = BandRunner.band(meanPixel);
    // a sharp class head on the band, a flat second head one band up
    const heads = [[6, 0], [0.3, 1]].map(([sharpness, shift]) =>
      softmax(
        Array.from({ length: CLASSES }, (_, k) =>
          -sharpness * Math.abs(k - band - shift)),
      )
    );
    return { mean: heads[0].map((p, k) => (p + heads[1][k]) / 2), heads };
  }

  predict(input: ModelInput): Promise<ModelOutput> {
    this.batchSizes.push(input.count);
    const size = 64;
    const probabilities = new Float32Array(input.count * CLASSES);
    const headProbabilities = [0, 1].map(() =>
      new Float32Array(input.count * CLASSES)
    );
    for (let i = 0; i < input.count; i++) {
      let sum = 0;
      for (let p = 0; p < size; p++) {
        const v = input.data[i * size + p];
        // float input is normalised: undo it to get back to pixel units
        sum += input.dtype === "uint8" ? v : (v * 0.25 + 0.5) * 255;
      }
      const scores = BandRunner.scores(sum / size);
      probabilities.set(scores.mean, i * CLASSES);
      scores.heads.forEach((h, j) => headProbabilities[j].set(h, i * CLASSES));
    }
    return Promise.resolve({ probabilities, headProbabilities });
  }

  dispose(): void {
    this.disposed = true;
  }
}

const TINY_CLASSES = ["zero", "one", "two"];
/** Input normalisation of the tiny student. */
export const NORMALIZATION = { mean: [0.4], std: [0.3] };
const TINY_OPTIONS: UntrainedStudent["options"] = {
  inputShape: [12, 12, 1],
  numClasses: 3,
  dim: 16,
  depth: 1,
  numHeads: 2,
  mlpDim: 32,
  patchSize: 4,
  numDistillationTokens: 2,
  seed: 7,
};

/** What {@linkcode saveUntrainedStudent} saves. */
interface UntrainedStudent {
  options: ModelOptions & { inputShape: [number, number, number] };
  classNames: string[];
  normalization: { mean: number[]; std: number[] };
  dataFingerprint: string;
}

/** Saves an untrained vit-tiny in `dir`, with the metadata the app reads. */
async function saveUntrainedStudent(
  dir: string,
  student: UntrainedStudent,
): Promise<string> {
  const [height, width, channels] = student.options.inputShape;
  await Deno.mkdir(dir, { recursive: true });
  const model = buildModel("vit-tiny", student.options);
  try {
    await saveModel(model, dir, {
      architecture: { name: "vit-tiny", options: student.options },
      classNames: student.classNames,
      input: {
        height,
        width,
        channels,
        normalization: student.normalization,
      },
      dataFingerprint: student.dataFingerprint,
      metrics: {},
    });
  } finally {
    model.dispose();
  }
  return dir;
}

/**
 * Saves an untrained tiny student (12x12 grey, 3 classes, 2 distillation
 * tokens) as `<root>/<run>/student`, like the train app, and returns that folder.
 */
export function saveTinyStudent(
  root: string,
  run = "tiny-run",
): Promise<string> {
  return saveUntrainedStudent(`${root}/${run}/student`, {
    options: TINY_OPTIONS,
    classNames: TINY_CLASSES,
    normalization: NORMALIZATION,
    dataFingerprint: "test",
  });
}

/**
 * Saves in `dir` an untrained student shaped like the `quick` preset's
 * (vit-tiny, patch 7, 28x28 grey, 10 classes, 2 distillation tokens), for
 * the serving benchmarks: the weights do not change the speed. Returns `dir`.
 */
export function saveQuickStudent(
  dir: string,
  dataFingerprint: string,
): Promise<string> {
  return saveUntrainedStudent(dir, {
    options: {
      inputShape: [28, 28, 1],
      numClasses: 10,
      patchSize: 7,
      numDistillationTokens: 2,
      seed: 1,
    },
    classNames: Array.from({ length: 10 }, (_, i) => String(i)),
    normalization: { mean: [0.1307], std: [0.3081] },
    dataFingerprint,
  });
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** Just a PNG signature and IHDR (8-bit grey) claiming `width` x `height`: a header to probe. */
export function pngHeaderOnly(width: number, height: number): Uint8Array {
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // grey
  const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  return Uint8Array.from([...signature, ...pngChunk("IHDR", ihdr)]);
}

/**
 * A valid 8-bit grey PNG of `width` x `height` pixels of value `value`,
 * compressed natively (CompressionStream), so that tests can make the
 * largest allowed image (16 MP) in a few hundred milliseconds.
 */
export async function bigGreyPng(
  width: number,
  height: number,
  value = 0,
): Promise<Uint8Array<ArrayBuffer>> {
  const raw = new Uint8Array((width + 1) * height);
  if (value !== 0) {
    for (let y = 0; y < height; y++) {
      raw.fill(value, y * (width + 1) + 1, (y + 1) * (width + 1));
    }
  }
  const deflated = new Uint8Array(
    await new Response(
      new Blob([raw]).stream().pipeThrough(new CompressionStream("deflate")),
    ).arrayBuffer(),
  );
  const head = pngHeaderOnly(width, height);
  const idat = pngChunk("IDAT", deflated);
  const iend = pngChunk("IEND", new Uint8Array());
  const out = new Uint8Array(head.length + idat.length + iend.length);
  out.set(head);
  out.set(idat, head.length);
  out.set(iend, head.length + idat.length);
  return out;
}
