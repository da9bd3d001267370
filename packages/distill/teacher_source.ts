import * as tf from "@tensorflow/tfjs";
import { DistillError } from "./errors.ts";
import type { LayersModel, Tensor1D, Tensor2D, Tensor4D } from "./tf_types.ts";

/** One training batch, as the loop consumes it. */
export interface TrainingBatch {
  /** Normalised images [B, H, W, C]. */
  x: Tensor4D;
  /** Integer labels [B]. */
  y: Tensor1D;
  /** The data set index of each row. */
  indices: ArrayLike<number>;
  /** The stored view each row was augmented as, when views are in use. */
  viewIndices?: ArrayLike<number>;
}

/**
 * Where the teachers' logits for a batch come from: a logit store or live
 * teachers. Returns one `[B, C]` tensor per teacher, in teacher order; the
 * caller disposes them.
 */
export interface TeacherLogitSource {
  /** Number of teachers T. */
  readonly teacherCount: number;
  /** The teachers' logits for the rows of `batch`. */
  logitsFor(batch: TrainingBatch): Tensor2D[] | Promise<Tensor2D[]>;
}

/**
 * The part of a logit-store reader (`StoreReader` of `@vitkd/logit-store`)
 * this package needs: the rows of a batch (image x view), one flat `[B * C]`
 * array per teacher.
 */
export interface StoreBatchReader {
  /** Number of teachers T in the store. */
  readonly teacherCount: number;
  /** Number of classes C. */
  readonly numClasses: number;
  /** Logits of rows `(imageIndices[b], viewIndices[b])`, one `Float32Array` per teacher. */
  readBatch(
    imageIndices: ArrayLike<number>,
    viewIndices: ArrayLike<number>,
  ): Float32Array[] | Promise<Float32Array[]>;
}

/**
 * Teacher logits read from a logit store by (image, view): the batch must
 * carry `viewIndices`, the views the batch's images were augmented as.
 */
export class StoreLogitSource implements TeacherLogitSource {
  /** Number of teachers T. */
  readonly teacherCount: number;
  /** Number of classes C. */
  readonly numClasses: number;
  #reader: StoreBatchReader;

  /** Reads batches from `reader`; the reader stays the caller's to close. */
  constructor(reader: StoreBatchReader) {
    if (!(Number.isInteger(reader.teacherCount) && reader.teacherCount > 0)) {
      throw new DistillError(
        `StoreLogitSource: the store must hold at least one teacher, got ${reader.teacherCount}`,
        { code: "mismatch" },
      );
    }
    if (!(Number.isInteger(reader.numClasses) && reader.numClasses > 1)) {
      throw new DistillError(
        `StoreLogitSource: the store's class count must be an integer > 1, got ${reader.numClasses}`,
        { code: "mismatch" },
      );
    }
    this.#reader = reader;
    this.teacherCount = reader.teacherCount;
    this.numClasses = reader.numClasses;
  }

  /** Reads the batch's rows and wraps them as `[B, C]` tensors. */
  async logitsFor(batch: TrainingBatch): Promise<Tensor2D[]> {
    if (!batch.viewIndices) {
      throw new DistillError(
        "StoreLogitSource: the batch has no viewIndices; stored logits need the view each image was augmented as",
        { code: "mismatch" },
      );
    }
    const rows = batch.indices.length;
    if (batch.viewIndices.length !== rows) {
      throw new DistillError(
        `StoreLogitSource: batch has ${rows} indices but ${batch.viewIndices.length} viewIndices`,
        { code: "mismatch" },
      );
    }
    const arrays = await this.#reader.readBatch(
      batch.indices,
      batch.viewIndices,
    );
    if (arrays.length !== this.teacherCount) {
      throw new DistillError(
        `StoreLogitSource: the store returned ${arrays.length} teachers, expected ${this.teacherCount}`,
        { code: "mismatch" },
      );
    }
    return arrays.map((data, t) => {
      if (data.length !== rows * this.numClasses) {
        throw new DistillError(
          `StoreLogitSource: teacher ${t} returned ${data.length} values, expected ${rows} rows x ${this.numClasses} classes`,
          { code: "mismatch" },
        );
      }
      return tf.tensor2d(data, [rows, this.numClasses], "float32");
    });
  }
}

/** A teacher the live source can run: a model or a function of the batch's x. */
export type LiveTeacher =
  | LayersModel
  | ((x: Tensor4D) => Tensor2D);

/**
 * Teacher logits computed on every batch by running the teachers (inference
 * mode) on the batch's x: the reference the store must reproduce, and the
 * mode for users without a store.
 */
export class LiveTeacherSource implements TeacherLogitSource {
  /** Number of teachers T. */
  readonly teacherCount: number;
  #teachers: LiveTeacher[];

  /** Runs `teachers`, in this order, on each batch. */
  constructor(teachers: LiveTeacher[]) {
    if (teachers.length === 0) {
      throw new DistillError("LiveTeacherSource: needs at least one teacher", {
        code: "bad-options",
      });
    }
    this.#teachers = [...teachers];
    this.teacherCount = teachers.length;
  }

  /** Runs each teacher on `batch.x`. */
  logitsFor(batch: TrainingBatch): Tensor2D[] {
    return this.#teachers.map((teacher, i) =>
      tf.tidy(() => {
        const out = typeof teacher === "function"
          ? teacher(batch.x)
          : teacher.predict(batch.x);
        if (Array.isArray(out) || out.rank !== 2) {
          throw new DistillError(
            `LiveTeacherSource: teacher ${i} must return one [batch, classes] tensor`,
            { code: "mismatch" },
          );
        }
        return out as tf.Tensor2D;
      })
    );
  }
}
