import { crc32 } from "./_crc32.ts";
import { decodeRecord, describeEncoding } from "./encoding.ts";
import { LogitStoreError } from "./errors.ts";
import { chunkByteRange, readStructure, type StoreHeader } from "./format.ts";
import { hex, readExactly } from "./_io.ts";

/** Statistics of one teacher's stored logits. */
export interface TeacherStats {
  /** Teacher name. */
  name: string;
  /** Teacher kind. */
  kind: string;
  /** Fraction of views whose argmax is the label (`null` without labels). */
  accuracy: number | null;
  /** Mean probability of the argmax class (softmax at temperature 1). */
  meanConfidence: number;
}

/** The outcome of {@linkcode inspectStore}. */
export interface InspectReport {
  /** The store file. */
  path: string;
  /** Its header. */
  header: StoreHeader;
  /** Size of the file. */
  bytes: number;
  /** File bytes per stored image (all views and teachers, overhead included). */
  bytesPerImage: number;
  /** Views (rows) examined. */
  views: number;
  /** One entry per teacher, in store order. */
  teachers: TeacherStats[];
  /** `agreement[a][b]`: fraction of views where teachers a and b pick the same class. */
  agreement: number[][];
  /** Accuracy of the argmax of the teachers' mean probabilities (`null` without labels). */
  ensembleAccuracy: number | null;
}

/**
 * Reads a whole store chunk by chunk (checking checksums) and computes each
 * teacher's accuracy from its stored logits, the agreement between teachers
 * and the ensemble's accuracy. `labels` holds one label per data set image
 * (`header.dataset.count` of them).
 */
export async function inspectStore(
  path: string,
  labels?: Int32Array | ArrayLike<number>,
): Promise<InspectReport> {
  using file = await Deno.open(path, { read: true });
  const { header, layout, chunkCrcs, fileBytes } = readStructure(file, path);
  if (labels && labels.length !== header.dataset.count) {
    throw new LogitStoreError(
      `inspect ${path}: ${labels.length} labels given, the store covers a data set of ${header.dataset.count} images`,
    );
  }
  const t = header.teachers.length;
  const c = header.numClasses;
  const correct = new Float64Array(t);
  const confidence = new Float64Array(t);
  const agree = Array.from({ length: t }, () => new Float64Array(t));
  let ensembleCorrect = 0;
  let rows = 0;
  const logits = new Float32Array(c);
  const probs = Array.from({ length: t }, () => new Float64Array(c));
  const argmax = new Int32Array(t);
  const mean = new Float64Array(c);
  for (let local = 0; local < layout.chunkCount; local++) {
    const chunk = layout.firstChunk + local;
    const range = chunkByteRange(header, layout, chunk);
    const bytes = new Uint8Array(range.bytes);
    readExactly(file, path, range.offset, bytes, `chunk ${chunk}`);
    const actual = crc32(bytes);
    if (actual !== chunkCrcs[local]) {
      throw new LogitStoreError(
        `${path}: chunk ${chunk} checksum mismatch (stored 0x${
          hex(chunkCrcs[local])
        }, computed 0x${hex(actual)}): run verify`,
      );
    }
    const chunkRows = bytes.length / layout.rowBytes;
    const firstImage = chunk * header.chunkImages;
    for (let r = 0; r < chunkRows; r++) {
      const image = firstImage + Math.floor(r / header.views);
      mean.fill(0);
      for (let k = 0; k < t; k++) {
        decodeRecord(
          bytes,
          r * layout.rowBytes + k * layout.recordBytes,
          c,
          header.encoding,
          logits,
          0,
        );
        const p = probs[k];
        let best = 0;
        for (let j = 1; j < c; j++) if (logits[j] > logits[best]) best = j;
        let sum = 0;
        for (let j = 0; j < c; j++) {
          p[j] = Math.exp(logits[j] - logits[best]);
          sum += p[j];
        }
        for (let j = 0; j < c; j++) {
          p[j] /= sum;
          mean[j] += p[j];
        }
        argmax[k] = best;
        confidence[k] += p[best];
        if (labels && best === labels[image]) correct[k]++;
      }
      for (let a = 0; a < t; a++) {
        for (let b = 0; b < t; b++) if (argmax[a] === argmax[b]) agree[a][b]++;
      }
      if (labels) {
        let best = 0;
        for (let j = 1; j < c; j++) if (mean[j] > mean[best]) best = j;
        if (best === labels[image]) ensembleCorrect++;
      }
      rows++;
    }
  }
  const n = Math.max(rows, 1);
  return {
    path,
    header,
    bytes: fileBytes,
    bytesPerImage: fileBytes / Math.max(layout.imageCount, 1),
    views: rows,
    teachers: header.teachers.map((teacher, k) => ({
      name: teacher.name,
      kind: teacher.kind,
      accuracy: labels ? correct[k] / n : null,
      meanConfidence: confidence[k] / n,
    })),
    agreement: agree.map((row) => Array.from(row, (v) => v / n)),
    ensembleAccuracy: labels ? ensembleCorrect / n : null,
  };
}

function pct(x: number | null): string {
  return x === null ? "-" : `${(100 * x).toFixed(2)} %`;
}

/** Renders an {@linkcode InspectReport} as a few lines of plain text. */
export function formatInspect(report: InspectReport): string {
  const h = report.header;
  const lines = [
    `logit store ${report.path}`,
    `  format v${h.formatVersion}, ${describeEncoding(h.encoding)}, ${
      (report.bytes / 1024 / 1024).toFixed(2)
    } MiB, ${report.bytesPerImage.toFixed(1)} bytes/image`,
    `  data set "${h.dataset.name}" ${h.dataset.fingerprint}: ${h.dataset.count} images ${h.dataset.height}x${h.dataset.width}x${h.dataset.channels}, ${h.numClasses} classes`,
    `  views ${h.views} per image, base seed ${h.baseSeed}, augmentation ${
      JSON.stringify(h.augmentation)
    }`,
    `  normalization mean ${JSON.stringify(h.normalization.mean)} std ${
      JSON.stringify(h.normalization.std)
    }`,
    `  chunks of ${h.chunkImages} images${
      h.shard ? `, shard ${h.shard.index} of ${h.shard.count}` : ""
    }, ${report.views} views examined`,
    "  teacher          kind      weights            accuracy   confidence",
  ];
  report.teachers.forEach((t, k) => {
    lines.push(
      `  ${t.name.padEnd(16)} ${t.kind.padEnd(9)} ${
        h.teachers[k].fingerprint.slice(0, 18).padEnd(18)
      } ${pct(t.accuracy).padStart(8)}   ${pct(t.meanConfidence).padStart(8)}`,
    );
  });
  if (report.teachers.length > 1) {
    lines.push(
      `  ensemble (mean probabilities) accuracy ${
        pct(report.ensembleAccuracy)
      }`,
    );
    lines.push("  agreement (same argmax):");
    for (let a = 0; a < report.teachers.length; a++) {
      for (let b = a + 1; b < report.teachers.length; b++) {
        lines.push(
          `    ${report.teachers[a].name} / ${report.teachers[b].name}: ${
            pct(report.agreement[a][b])
          }`,
        );
      }
    }
  }
  return lines.join("\n");
}
