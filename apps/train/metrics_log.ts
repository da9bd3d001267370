/** One line of `metrics.jsonl`. `event` says what the line records. */
export interface MetricsRecord {
  /** e.g. `epoch`, `step`, `eval`, `stage`. */
  event: string;
  /** ISO time the line was written (added by the log). */
  time?: string;
  /** Any further fields. */
  [field: string]: unknown;
}

const encoder = new TextEncoder();

/**
 * An append-only JSON-lines log. Each record is written with one write
 * call, so a crash leaves at worst one torn last line, which
 * {@linkcode readMetrics} skips.
 */
export class MetricsLog {
  readonly #file: Deno.FsFile;
  /** The log's path. */
  readonly path: string;

  private constructor(path: string, file: Deno.FsFile) {
    this.path = path;
    this.#file = file;
  }

  /** Opens (creating or appending to) the log at `path`. */
  static open(path: string): MetricsLog {
    const file = Deno.openSync(path, {
      create: true,
      append: true,
      write: true,
    });
    // A torn last line from an earlier crash would glue onto the next record.
    const size = file.statSync().size;
    if (size > 0) {
      const last = new Uint8Array(1);
      const reader = Deno.openSync(path, { read: true });
      try {
        reader.seekSync(size - 1, Deno.SeekMode.Start);
        reader.readSync(last);
      } finally {
        reader.close();
      }
      if (last[0] !== 10) file.writeSync(encoder.encode("\n"));
    }
    return new MetricsLog(path, file);
  }

  /** Appends one record, stamped with the current time. */
  write(record: MetricsRecord): void {
    const line = JSON.stringify({ time: new Date().toISOString(), ...record }) +
      "\n";
    const bytes = encoder.encode(line);
    let written = 0;
    while (written < bytes.length) {
      written += this.#file.writeSync(bytes.subarray(written));
    }
  }

  /** Closes the file. */
  close(): void {
    this.#file.close();
  }
}

/**
 * Reads a metrics log. Lines that do not parse (a torn last line after a
 * crash) are skipped and counted.
 */
export async function readMetrics(
  path: string,
): Promise<{ records: MetricsRecord[]; skipped: number }> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return { records: [], skipped: 0 };
    }
    throw error;
  }
  const records: MetricsRecord[] = [];
  let skipped = 0;
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    try {
      const value = JSON.parse(line);
      if (
        value && typeof value === "object" && typeof value.event === "string"
      ) {
        records.push(value as MetricsRecord);
      } else {
        skipped++;
      }
    } catch (error) {
      // A line cut short by a crash is expected; it is counted, not fatal.
      if (!(error instanceof SyntaxError)) throw error;
      skipped++;
    }
  }
  return { records, skipped };
}
