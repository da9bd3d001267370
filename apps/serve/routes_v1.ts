import { Hono } from "hono";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { ImageResult } from "./batcher.ts";
import { argmax, mediaType, type ServeState, tooLarge } from "./context.ts";
import { HttpError } from "./errors.ts";
import { checkUpload, type PreparedImage } from "./image.ts";
import { decodeUpload } from "./image_decode.ts";
import type { ImageHeader } from "./image_probe.ts";

/**
 * Images of at most this many pixels (and {@linkcode INLINE_DECODE_BYTES})
 * decode on the event loop: a 64 x 64 PNG or JPEG decodes and resizes in
 * 0.6-1 ms (a 256 x 256 one took 8-11 ms), less than a
 * worker round trip costs. Anything larger decodes in the pool.
 */
export const INLINE_DECODE_PIXELS = 64 * 64;
/** Most bytes of an image decoded on the event loop. */
export const INLINE_DECODE_BYTES = 64 * 1024;

/** One class and its probability. */
export interface ClassScore {
  /** Class index. */
  index: number;
  /** Class name. */
  label: string;
  /** Probability in `[0, 1]`. */
  probability: number;
}

/** One head's top class. */
export interface HeadScore extends ClassScore {
  /** Head name: `class`, then one per distillation token (its teacher's name, or `distill-1` ...). */
  head: string;
}

/** What `/v1/predict` says about one image. */
export interface ImagePrediction {
  /** Top-k classes of the averaged heads, most probable first. */
  top: ClassScore[];
  /** Each head's top class. */
  heads: HeadScore[];
  /** The upload's format and size before resizing. */
  image: { format: string; width: number; height: number; channels: number };
}

/** `POST /v1/predict` response. */
export interface PredictResponse extends ImagePrediction {
  /** Model id: `name:version`. */
  model: string;
  /** Milliseconds from receiving the request to answering it. */
  timeMs: number;
}

/** `POST /v1/predict/batch` response. */
export interface BatchPredictResponse {
  /** Model id: `name:version`. */
  model: string;
  /** One entry per uploaded file, in upload order. */
  results: (ImagePrediction & { file: string })[];
  /** Milliseconds from receiving the request to answering it. */
  timeMs: number;
}

const IMAGE_TYPES = ["image/png", "image/jpeg", "image/jpg"];

function topK(
  probabilities: Float32Array,
  classNames: string[],
  k: number,
): ClassScore[] {
  const order = Array.from(probabilities.keys()).sort((a, b) =>
    probabilities[b] - probabilities[a] || a - b
  );
  return order.slice(0, k).map((index) => ({
    index,
    label: classNames[index],
    probability: probabilities[index],
  }));
}

/**
 * The image endpoints, mounted at `/v1`: `POST /predict` (one image, raw or
 * multipart), `POST /predict/batch` (multipart, several files), `GET /model`
 * and `GET /stats`.
 */
export function imageRoutes(state: ServeState): Hono {
  const { info, batcher, decoder, limits, modelId } = state;
  const target = info.input;
  const imageSize = target.height * target.width * target.channels;
  const app = new Hono();

  const readTopK = (c: Context): number => {
    const raw = c.req.query("top_k");
    if (raw === undefined) return Math.min(state.topK, info.classNames.length);
    const k = Number(raw);
    if (!Number.isInteger(k) || k < 1) {
      throw new HttpError(
        400,
        `query 'top_k' must be a positive integer, got "${raw}"`,
      );
    }
    return Math.min(k, info.classNames.length);
  };

  // The header is checked here, on the event loop (it is a few bytes); the
  // pixels are decoded and resized in a worker.
  const prepare = (
    bytes: Uint8Array,
    source: string,
  ): Promise<PreparedImage> => {
    const header = checkUpload(bytes, target, limits, source);
    return decodeOffLoop(header, bytes, source);
  };

  // A small image decodes in well under a millisecond, less than a worker
  // round trip costs, so it decodes here; anything larger goes to the pool.
  const decodeOffLoop = (
    header: ImageHeader,
    bytes: Uint8Array,
    source: string,
  ): Promise<PreparedImage> => {
    if (
      header.width * header.height <= INLINE_DECODE_PIXELS &&
      bytes.length <= INLINE_DECODE_BYTES
    ) {
      try {
        return Promise.resolve(decodeUpload(bytes, target, source));
      } catch (error) {
        // A DataError (a corrupt image) is answered 400 by the error table.
        return Promise.reject(error);
      }
    }
    return decoder.decode(bytes, target, source);
  };

  const predictImages = async (
    pixels: Uint8Array[],
  ): Promise<ImageResult[]> => {
    const data = new Uint8Array(pixels.length * imageSize);
    pixels.forEach((p, i) => data.set(p, i * imageSize));
    return await batcher.submit({ dtype: "uint8", data, count: pixels.length });
  };

  const describe = (
    result: ImageResult,
    k: number,
  ): Omit<ImagePrediction, "image"> => ({
    top: topK(result.probabilities, info.classNames, k),
    heads: result.headProbabilities.map((probabilities, h) => {
      const index = argmax(probabilities);
      return {
        head: info.heads[h] ?? `head-${h}`,
        index,
        label: info.classNames[index],
        probability: probabilities[index],
      };
    }),
  });

  const uploadedFiles = async (c: Context): Promise<File[]> => {
    let form: FormData;
    try {
      form = await c.req.raw.formData();
    } catch (error) {
      throw new HttpError(
        400,
        `malformed multipart body: ${(error as Error).message}`,
      );
    }
    const files: File[] = [];
    for (const value of form.values()) {
      if (value instanceof File) files.push(value);
    }
    return files;
  };

  app.get("/model", (c) =>
    c.json({
      model: modelId,
      name: info.name,
      version: info.version,
      architecture: info.architecture,
      classNames: info.classNames,
      heads: info.heads,
      input: info.input,
    }));

  app.get(
    "/stats",
    (c) =>
      c.json({
        ...batcher.stats,
        waiting: batcher.waiting,
        ready: state.isReady(),
      }),
  );

  app.post(
    "/predict",
    bodyLimit({
      // multipart framing adds a few hundred bytes around the file
      maxSize: limits.maxBytes + 64 * 1024,
      onError: tooLarge("request body", limits.maxBytes, "--max-bytes"),
    }),
    async (c) => {
      const started = performance.now();
      const k = readTopK(c);
      const type = mediaType(c);
      let bytes: Uint8Array;
      let source = "body";
      if (IMAGE_TYPES.includes(type)) {
        bytes = new Uint8Array(await c.req.arrayBuffer());
      } else if (type === "multipart/form-data") {
        const files = await uploadedFiles(c);
        if (files.length !== 1) {
          throw new HttpError(
            400,
            `multipart body has ${files.length} files; /v1/predict takes exactly 1 (use /v1/predict/batch for several)`,
          );
        }
        source = files[0].name || "upload";
        bytes = new Uint8Array(await files[0].arrayBuffer());
      } else {
        throw new HttpError(
          415,
          `content type "${
            type || "(none)"
          }" is not supported; send image/png, image/jpeg or multipart/form-data`,
        );
      }
      if (bytes.length > limits.maxBytes) {
        throw new HttpError(
          413,
          `${source}: image is ${bytes.length} bytes, over the limit of ${limits.maxBytes} (--max-bytes)`,
        );
      }
      const prepared = await prepare(bytes, source);
      const [result] = await predictImages([prepared.pixels]);
      const body: PredictResponse = {
        model: modelId,
        ...describe(result, k),
        image: prepared.original,
        timeMs: performance.now() - started,
      };
      return c.json(body);
    },
  );

  app.post(
    "/predict/batch",
    bodyLimit({
      maxSize: limits.maxBatchBytes,
      onError: tooLarge(
        "request body",
        limits.maxBatchBytes,
        "--max-batch-bytes",
      ),
    }),
    async (c) => {
      const started = performance.now();
      const k = readTopK(c);
      const type = mediaType(c);
      if (type !== "multipart/form-data") {
        throw new HttpError(
          415,
          `content type "${
            type || "(none)"
          }" is not supported; /v1/predict/batch takes multipart/form-data with one or more image files`,
        );
      }
      const files = await uploadedFiles(c);
      if (files.length === 0) {
        throw new HttpError(
          400,
          "multipart body has no files; expected 1 or more images",
        );
      }
      if (files.length > limits.maxImages) {
        throw new HttpError(
          413,
          `multipart body has ${files.length} files, over the limit of ${limits.maxImages} (--max-images)`,
        );
      }
      // Every header is checked before any file is decoded; then the files
      // decode in parallel on the pool.
      const uploads: {
        source: string;
        bytes: Uint8Array;
        header: ImageHeader;
      }[] = [];
      for (const [i, file] of files.entries()) {
        const source = file.name || `file ${i + 1}`;
        if (file.size > limits.maxBytes) {
          throw new HttpError(
            413,
            `${source}: image is ${file.size} bytes, over the limit of ${limits.maxBytes} (--max-bytes)`,
          );
        }
        const bytes = new Uint8Array(await file.arrayBuffer());
        const header = checkUpload(bytes, target, limits, source);
        uploads.push({ source, bytes, header });
      }
      const prepared: (PreparedImage & { source: string })[] = await Promise
        .all(
          uploads.map(async ({ source, bytes, header }) => ({
            source,
            ...await decodeOffLoop(header, bytes, source),
          })),
        );
      const results = await predictImages(prepared.map((p) => p.pixels));
      const body: BatchPredictResponse = {
        model: modelId,
        results: results.map((result, i) => ({
          file: prepared[i].source,
          ...describe(result, k),
          image: prepared[i].original,
        })),
        timeMs: performance.now() - started,
      };
      return c.json(body);
    },
  );

  return app;
}
