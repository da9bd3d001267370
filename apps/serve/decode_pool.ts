import { DataError } from "@vitkd/data";
import type { ImageTarget, PreparedImage } from "./image_decode.ts";

/** A message to a decode worker. */
export interface DecodeRequest {
  /** Job id, echoed in the reply. */
  id: number;
  /** The upload (transferred to the worker). */
  bytes: Uint8Array;
  /** The model's input size. */
  target: ImageTarget;
  /** Names the upload in error messages. */
  source: string;
}

/** A decode worker's answer. */
export type DecodeReply =
  | { id: number; ok: true; prepared: PreparedImage }
  | { id: number; ok: false; name: string; message: string };

/** Options for {@linkcode DecodePool}. */
export interface DecodePoolOptions {
  /** Worker threads decoding at once. */
  workers: number;
  /** Uploads waiting for a worker before {@linkcode DecoderBusyError}. */
  maxQueue: number;
  /**
   * A worker idle this long is stopped, giving back the memory a large
   * image left in its heap; the next upload starts one again (default 30 s).
   */
  idleMs?: number;
  /**
   * A worker that decoded an image of more pixels than this (or failed to
   * decode one) is stopped at once: decoders leave hundreds of megabytes in
   * a worker's heap after a large image (a 12 MP JPEG: about 500 MB), which
   * only ending the worker gives back. Default 4,000,000.
   */
  recyclePixels?: number;
}

/** Thrown by {@linkcode DecodePool.decode} when every worker is busy and the queue is full. */
export class DecoderBusyError extends Error {
  /** @param queued uploads waiting; @param limit the queue limit */
  constructor(queued: number, limit: number) {
    super(
      `server busy: ${queued} images already waiting to be decoded (limit ${limit}); retry later`,
    );
    this.name = "DecoderBusyError";
  }
}

/** Counters of a {@linkcode DecodePool}. */
export interface DecodePoolStats {
  /** Worker threads allowed. */
  workers: number;
  /** Worker threads running now (started on demand, stopped when idle). */
  alive: number;
  /** Workers decoding now. */
  busy: number;
  /** Uploads waiting for a worker. */
  queued: number;
  /** Uploads decoded. */
  decoded: number;
  /** Uploads refused as corrupt. */
  failed: number;
  /** Workers that died and were replaced. */
  crashed: number;
  /** Workers stopped after a large image or a failure, to give back memory. */
  recycled: number;
}

/** The default number of decode workers: one core is left to the event loop and the model. */
export function defaultDecodeWorkers(): number {
  const cores = navigator.hardwareConcurrency ?? 2;
  return Math.max(1, Math.min(4, cores - 1));
}

interface Job {
  request: DecodeRequest;
  resolve: (prepared: PreparedImage) => void;
  reject: (error: unknown) => void;
}

interface Slot {
  worker: Worker;
  job?: Job;
  idle?: ReturnType<typeof setTimeout>;
}

const WORKER_URL = new URL("./decode_worker.ts", import.meta.url).href;

/** A valid 1x1 white RGBA PNG: what {@linkcode DecodePool.warm} decodes. */
export const BLANK_PNG: Uint8Array = Uint8Array.from(
  atob(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAAC0lEQVR4AWP4DwQACfsD/c8LaHIAAAAASUVORK5CYII=",
  ),
  (c) => c.charCodeAt(0),
);

/**
 * Decodes uploads in a bounded pool of worker threads, so that a large image
 * never blocks the event loop (health checks, other requests, the batcher).
 * Workers start on first use; a job waits in a bounded queue while all are
 * busy. A worker that dies fails its job with a 500 and is replaced.
 */
export class DecodePool {
  readonly #options: DecodePoolOptions;
  readonly #slots: Slot[] = [];
  readonly #queue: Job[] = [];
  #nextId = 0;
  #closed = false;
  #stats = { decoded: 0, failed: 0, crashed: 0, recycled: 0 };

  /** @param options pool size and queue limit */
  constructor(options: DecodePoolOptions) {
    if (!Number.isInteger(options.workers) || options.workers < 1) {
      throw new RangeError(
        `workers must be an integer >= 1, got ${options.workers}`,
      );
    }
    if (!Number.isInteger(options.maxQueue) || options.maxQueue < 0) {
      throw new RangeError(
        `maxQueue must be an integer >= 0, got ${options.maxQueue}`,
      );
    }
    this.#options = { ...options };
  }

  /** Zeroes the counters. */
  resetStats(): void {
    this.#stats = { decoded: 0, failed: 0, crashed: 0, recycled: 0 };
  }

  /** Counters and the current load. */
  get stats(): DecodePoolStats {
    return {
      workers: this.#options.workers,
      alive: this.#slots.length,
      busy: this.#slots.filter((s) => s.job).length,
      queued: this.#queue.length,
      ...this.#stats,
    };
  }

  /**
   * Decodes and resizes `bytes` to `target` on a worker. The bytes are
   * transferred (the caller's array is emptied). Rejects with a
   * `DataError` naming the upload for a corrupt or truncated image (the app
   * answers 400) and with {@linkcode DecoderBusyError} when the queue is
   * full (503).
   */
  decode(
    bytes: Uint8Array,
    target: ImageTarget,
    source: string,
  ): Promise<PreparedImage> {
    if (this.#closed) {
      return Promise.reject(new Error("decode pool is closed"));
    }
    const free = this.#freeSlot();
    if (!free && this.#queue.length >= this.#options.maxQueue) {
      return Promise.reject(
        new DecoderBusyError(this.#queue.length, this.#options.maxQueue),
      );
    }
    // An own copy when the upload is a view into a larger buffer, so the
    // transfer moves exactly the image.
    const own = bytes.byteOffset === 0 &&
        bytes.byteLength === bytes.buffer.byteLength &&
        bytes.buffer instanceof ArrayBuffer
      ? bytes
      : bytes.slice();
    const request: DecodeRequest = {
      id: this.#nextId++,
      bytes: own,
      target: {
        height: target.height,
        width: target.width,
        channels: target.channels,
      },
      source,
    };
    return new Promise<PreparedImage>((resolve, reject) => {
      const job = { request, resolve, reject };
      if (free) this.#start(free, job);
      else this.#queue.push(job);
    });
  }

  /**
   * Starts every worker and has each decode `sample` once, so a server can
   * start with the pool it will run under load (a worker is a V8 isolate of
   * tens of megabytes) and its first uploads do not wait for a worker to
   * load. Workers still stop after `idleMs` without work.
   *
   * @param target What to decode to (the model's input).
   * @param sample A small valid PNG or JPEG (default {@linkcode BLANK_PNG}).
   */
  async warm(
    target: ImageTarget,
    sample: Uint8Array = BLANK_PNG,
  ): Promise<void> {
    await Promise.all(
      Array.from(
        { length: this.#options.workers },
        () => this.decode(sample.slice(), target, "warm-up"),
      ),
    );
  }

  /** Stops every worker; waiting and running jobs fail. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const error = new Error("decode pool is closed");
    for (const job of this.#queue.splice(0)) job.reject(error);
    for (const slot of this.#slots) {
      clearTimeout(slot.idle);
      slot.job?.reject(error);
      slot.job = undefined;
      slot.worker.terminate();
    }
    this.#slots.length = 0;
  }

  #freeSlot(): Slot | undefined {
    const idle = this.#slots.find((s) => !s.job);
    if (idle) return idle;
    if (this.#slots.length < this.#options.workers) {
      const slot: Slot = { worker: this.#spawn() };
      this.#slots.push(slot);
      this.#listen(slot);
      return slot;
    }
    return undefined;
  }

  #spawn(): Worker {
    return new Worker(WORKER_URL, { type: "module", name: "vitkd-decode" });
  }

  #listen(slot: Slot): void {
    slot.worker.onmessage = (event: MessageEvent<DecodeReply>) => {
      const job = slot.job;
      if (!job || event.data.id !== job.request.id) return;
      slot.job = undefined;
      const reply = event.data;
      let recycle = !reply.ok;
      if (reply.ok) {
        this.#stats.decoded++;
        const { width, height } = reply.prepared.original;
        recycle = width * height > (this.#options.recyclePixels ?? 4_000_000);
        job.resolve(reply.prepared);
      } else {
        this.#stats.failed++;
        // Errors do not cross to a worker and back: a corrupt upload comes
        // back as a DataError again (a 400), anything else as a failure.
        job.reject(
          reply.name === "DataError"
            ? new DataError(reply.message)
            : new Error(`image decoder failed: ${reply.message}`),
        );
      }
      if (recycle) {
        // A fresh worker starts when the next upload needs one.
        slot.worker.terminate();
        this.#slots.splice(this.#slots.indexOf(slot), 1);
        this.#stats.recycled++;
        const next = this.#queue.shift();
        if (next) this.#start(this.#freeSlot()!, next);
        return;
      }
      this.#next(slot);
    };
    slot.worker.onerror = (event: ErrorEvent) => {
      // The worker is gone (an uncaught error or out of memory): fail its
      // job and put a fresh worker in its place.
      event.preventDefault();
      this.#stats.crashed++;
      const job = slot.job;
      slot.job = undefined;
      slot.worker.terminate();
      job?.reject(
        new Error(`image decoder failed: ${event.message ?? "worker died"}`),
      );
      if (this.#closed) return;
      slot.worker = this.#spawn();
      this.#listen(slot);
      this.#next(slot);
    };
  }

  #start(slot: Slot, job: Job): void {
    clearTimeout(slot.idle);
    slot.idle = undefined;
    slot.job = job;
    slot.worker.postMessage(job.request, [
      job.request.bytes.buffer as ArrayBuffer,
    ]);
  }

  #next(slot: Slot): void {
    const job = this.#queue.shift();
    if (job) {
      this.#start(slot, job);
      return;
    }
    if (this.#closed) return;
    slot.idle = setTimeout(() => {
      if (slot.job) return;
      slot.worker.terminate();
      this.#slots.splice(this.#slots.indexOf(slot), 1);
    }, this.#options.idleMs ?? 30_000);
  }
}
