import type {
  InputDtype,
  ModelInput,
  ModelOutput,
  ModelRunner,
} from "./runner.ts";

/** Options for {@linkcode MicroBatcher}. */
export interface MicroBatcherOptions {
  /** Most images run in one model call. */
  maxBatch: number;
  /**
   * How long the first waiting image waits for others to join its batch, in
   * milliseconds. 0 still merges whatever arrived in the same event-loop turn.
   */
  windowMs: number;
  /**
   * When false, images of different requests never share a model call; a
   * request's own images still run together (up to `maxBatch`).
   */
  enabled: boolean;
  /** Most images waiting at once; beyond it `submit` throws {@linkcode QueueFullError}. */
  maxQueue: number;
  /**
   * Awaited before each model call with the batch size: tests hold a model
   * call in flight with it (the CLI has no such flag).
   */
  beforeRun?: (count: number) => Promise<void> | void;
  /** Called after each model call with its size (for `/metrics`). */
  onBatch?: (count: number) => void;
}

/** One image's result: its probabilities and each head's. */
export interface ImageResult {
  /** Mean over heads of softmax, one per class. */
  probabilities: Float32Array;
  /** Per head, softmax probabilities, one per class. */
  headProbabilities: Float32Array[];
}

/** Thrown by {@linkcode MicroBatcher.submit} when the queue is full. */
export class QueueFullError extends Error {
  /** @param waiting images waiting; @param limit the queue limit */
  constructor(waiting: number, limit: number) {
    super(
      `server busy: ${waiting} images already waiting (limit ${limit}); retry later`,
    );
    this.name = "QueueFullError";
  }
}

/** Thrown by {@linkcode MicroBatcher.submit} after {@linkcode MicroBatcher.close}. */
export class BatcherClosedError extends Error {
  constructor() {
    super("server is shutting down");
    this.name = "BatcherClosedError";
  }
}

/** Counters for logs and benchmarks. */
export interface BatcherStats {
  /** Model calls made. */
  batches: number;
  /** Images predicted. */
  images: number;
  /** Largest batch run. */
  largestBatch: number;
}

interface PendingImage {
  dtype: InputDtype;
  data: Uint8Array | Float32Array;
  request: number;
  resolve: (result: ImageResult) => void;
  reject: (error: unknown) => void;
}

/**
 * Queues images from concurrent requests and runs them through the model in
 * bounded batches, one batch at a time, yielding to the event loop between
 * batches so that health checks and new requests are served meanwhile.
 */
export class MicroBatcher {
  readonly #runner: ModelRunner;
  readonly #options: MicroBatcherOptions;
  readonly #imageSize: number;
  #queue: PendingImage[] = [];
  #nextRequest = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerImmediate = false;
  #running = false;
  #closed = false;
  #idleWaiters: (() => void)[] = [];
  #stats: BatcherStats = { batches: 0, images: 0, largestBatch: 0 };

  /** @param runner the model; @param options batching limits */
  constructor(runner: ModelRunner, options: MicroBatcherOptions) {
    if (!Number.isInteger(options.maxBatch) || options.maxBatch < 1) {
      throw new RangeError(
        `maxBatch must be an integer >= 1, got ${options.maxBatch}`,
      );
    }
    if (!(options.windowMs >= 0)) {
      throw new RangeError(`windowMs must be >= 0, got ${options.windowMs}`);
    }
    if (!Number.isInteger(options.maxQueue) || options.maxQueue < 1) {
      throw new RangeError(
        `maxQueue must be an integer >= 1, got ${options.maxQueue}`,
      );
    }
    this.#runner = runner;
    this.#options = { ...options };
    const { height, width, channels } = runner.info.input;
    this.#imageSize = height * width * channels;
  }

  /** Counters since start. */
  get stats(): BatcherStats {
    return { ...this.#stats };
  }

  /** Zeroes the counters. */
  resetStats(): void {
    this.#stats = { batches: 0, images: 0, largestBatch: 0 };
  }

  /** Images waiting for a model call. */
  get waiting(): number {
    return this.#queue.length;
  }

  /**
   * Predicts `input.count` images of one request; they may share model calls
   * with other requests' images. Resolves with one result per image, in order.
   */
  submit(input: ModelInput): Promise<ImageResult[]> {
    if (this.#closed) return Promise.reject(new BatcherClosedError());
    const expected = input.count * this.#imageSize;
    if (input.data.length !== expected) {
      return Promise.reject(
        new RangeError(
          `input has ${input.data.length} values, expected ${expected} (${input.count} images of ${this.#imageSize})`,
        ),
      );
    }
    if (this.#queue.length + input.count > this.#options.maxQueue) {
      return Promise.reject(
        new QueueFullError(this.#queue.length, this.#options.maxQueue),
      );
    }
    const request = this.#nextRequest++;
    const promises: Promise<ImageResult>[] = [];
    for (let i = 0; i < input.count; i++) {
      const data = input.data.subarray(
        i * this.#imageSize,
        (i + 1) * this.#imageSize,
      );
      promises.push(
        new Promise<ImageResult>((resolve, reject) => {
          this.#queue.push({
            dtype: input.dtype,
            data,
            request,
            resolve,
            reject,
          });
        }),
      );
    }
    this.#schedule();
    return Promise.all(promises);
  }

  /** Refuses new work; resolves when every queued image has been answered. */
  close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#startDrain();
    }
    return this.#whenIdle();
  }

  #whenIdle(): Promise<void> {
    if (!this.#running && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #schedule(): void {
    if (this.#running) return;
    const immediate = this.#queue.length >= this.#options.maxBatch ||
      !this.#options.enabled || this.#options.windowMs === 0;
    if (this.#timer !== undefined) {
      if (!immediate || this.#timerImmediate) return;
      clearTimeout(this.#timer);
    }
    this.#timerImmediate = immediate;
    // Even a zero delay lets requests parsed in this turn join the batch.
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#startDrain();
    }, immediate ? 0 : this.#options.windowMs);
  }

  #startDrain(): void {
    if (this.#running) return;
    this.#running = true;
    this.#drain().finally(() => {
      this.#running = false;
      if (this.#queue.length > 0) {
        this.#schedule();
      } else {
        for (const wake of this.#idleWaiters.splice(0)) wake();
      }
    });
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#takeBatch();
      try {
        await this.#options.beforeRun?.(batch.length);
      } catch (error) {
        for (const item of batch) item.reject(error);
        continue;
      }
      await this.#run(batch);
      // Model calls are synchronous on wasm/cpu: give the event loop a turn so
      // health checks and newly arrived requests are not starved.
      await new Promise((resolve) => setTimeout(resolve, 0));
      if (
        this.#options.enabled && this.#options.windowMs > 0 &&
        this.#queue.length > 0 && this.#queue.length < this.#options.maxBatch &&
        !this.#closed
      ) {
        // Under load the next batch forms while this one runs; a short queue
        // goes back to waiting for its window.
        return;
      }
    }
  }

  #takeBatch(): PendingImage[] {
    const head = this.#queue[0];
    const batch: PendingImage[] = [];
    const rest: PendingImage[] = [];
    for (const item of this.#queue) {
      const fits = batch.length < this.#options.maxBatch &&
        item.dtype === head.dtype &&
        (this.#options.enabled || item.request === head.request);
      (fits ? batch : rest).push(item);
    }
    this.#queue = rest;
    return batch;
  }

  async #run(batch: PendingImage[]): Promise<void> {
    const count = batch.length;
    const dtype = batch[0].dtype;
    const data = dtype === "uint8"
      ? new Uint8Array(count * this.#imageSize)
      : new Float32Array(count * this.#imageSize);
    batch.forEach((item, i) => data.set(item.data, i * this.#imageSize));
    let output: ModelOutput;
    try {
      output = await this.#runner.predict(
        { dtype, data, count } as ModelInput,
      );
    } catch (error) {
      for (const item of batch) item.reject(error);
      return;
    }
    this.#stats.batches++;
    this.#stats.images += count;
    this.#stats.largestBatch = Math.max(this.#stats.largestBatch, count);
    this.#options.onBatch?.(count);
    const classes = output.probabilities.length / count;
    batch.forEach((item, i) => {
      const from = i * classes;
      const to = from + classes;
      item.resolve({
        probabilities: output.probabilities.slice(from, to),
        headProbabilities: output.headProbabilities.map((head) =>
          head.slice(from, to)
        ),
      });
    });
  }
}
