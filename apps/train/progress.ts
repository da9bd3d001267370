/** Where a progress bar writes: stderr by default. */
export interface ProgressSink {
  /** Writes raw text. */
  write(text: string): void;
  /** Whether the sink is a terminal (redraw in place) or not (plain lines). */
  isTerminal: boolean;
  /** The terminal width in columns, when known. */
  columns?: number;
}

/** Options of {@linkcode ProgressBar}. */
export interface ProgressBarOptions {
  /** What is progressing, e.g. "teacher resnet8 epoch 1/3". */
  label: string;
  /** Units of work in all. */
  total: number;
  /** The unit's name for the rate, e.g. "img". */
  unit?: string;
  /** Where to draw; stderr by default. */
  sink?: ProgressSink;
  /** Milliseconds clock; `performance.now` by default (tests inject one). */
  now?: () => number;
  /** Plain-line mode: print at most one line per this many ms (and at the end). */
  plainIntervalMs?: number;
}

const encoder = new TextEncoder();

/** A sink writing to the process's stderr. */
export function stderrSink(): ProgressSink {
  let columns: number | undefined;
  const isTerminal = Deno.stderr.isTerminal();
  if (isTerminal) {
    try {
      columns = Deno.consoleSize().columns;
    } catch {
      // No size to read (not a real console): lines are not fitted to one.
      columns = undefined;
    }
  }
  return {
    write: (text) => {
      const bytes = encoder.encode(text);
      let written = 0;
      while (written < bytes.length) {
        written += Deno.stderr.writeSync(bytes.subarray(written));
      }
    },
    isTerminal,
    columns,
  };
}

/** Seconds as a short human duration: `42s`, `3m05s`, `1h02m`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) {
    return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  }
  return `${Math.floor(s / 3600)}h${
    String(Math.floor((s % 3600) / 60)).padStart(2, "0")
  }m`;
}

/** A rate with a sensible number of digits: `1234/s`, `12.3/s`, `0.45/s`. */
export function formatRate(perSecond: number, unit = ""): string {
  if (!Number.isFinite(perSecond)) return `-- ${unit}/s`.trim();
  const digits = perSecond >= 100 ? 0 : perSecond >= 10 ? 1 : 2;
  return `${perSecond.toFixed(digits)} ${unit}/s`.replace(" /s", "/s");
}

/**
 * A progress bar with rate and ETA. On a terminal it redraws one line in
 * place; otherwise it prints plain lines, at most one per interval, so logs
 * stay readable.
 */
export class ProgressBar {
  readonly #label: string;
  readonly #total: number;
  readonly #unit: string;
  readonly #sink: ProgressSink;
  readonly #now: () => number;
  readonly #interval: number;
  readonly #start: number;
  #lastDraw = -Infinity;
  #done = 0;
  #suffix = "";
  #finished = false;

  /** Creates a bar; nothing is drawn until the first update. */
  constructor(options: ProgressBarOptions) {
    this.#label = options.label;
    this.#total = Math.max(0, options.total);
    this.#unit = options.unit ?? "";
    this.#sink = options.sink ?? stderrSink();
    this.#now = options.now ?? (() => performance.now());
    this.#interval = options.plainIntervalMs ?? 5000;
    this.#start = this.#now();
  }

  /** Units done so far. */
  get done(): number {
    return this.#done;
  }

  /** Sets the units done and an optional suffix (e.g. `loss 0.31`). */
  update(done: number, suffix?: string): void {
    if (this.#finished) return;
    this.#done = Math.min(Math.max(0, done), this.#total);
    if (suffix !== undefined) this.#suffix = suffix;
    const now = this.#now();
    const minGap = this.#sink.isTerminal ? 100 : this.#interval;
    if (now - this.#lastDraw < minGap && this.#done < this.#total) return;
    // Off a terminal the final line comes from finish(), not twice.
    if (!this.#sink.isTerminal && this.#done >= this.#total) return;
    this.#lastDraw = now;
    this.#draw(false);
  }

  /** Draws the final state and ends the line. */
  finish(suffix?: string): void {
    if (this.#finished) return;
    if (suffix !== undefined) this.#suffix = suffix;
    this.#draw(true);
    this.#finished = true;
  }

  /** The current line, without control characters. */
  line(): string {
    const elapsed = (this.#now() - this.#start) / 1000;
    const rate = elapsed > 0 ? this.#done / elapsed : NaN;
    const left = this.#total - this.#done;
    const eta = rate > 0 ? left / rate : NaN;
    const pct = this.#total > 0 ? (100 * this.#done) / this.#total : 100;
    const counts = `${this.#done}/${this.#total}`;
    const timing = this.#done >= this.#total
      ? `${formatDuration(elapsed)}`
      : `${formatDuration(elapsed)} eta ${formatDuration(eta)}`;
    const tail = [
      counts,
      formatRate(rate, this.#unit),
      timing,
      this.#suffix,
    ].filter((s) => s !== "").join("  ");
    if (!this.#sink.isTerminal) {
      return `${this.#label} ${pct.toFixed(0)}%  ${tail}`;
    }
    const columns = this.#sink.columns ?? 100;
    const room = columns - this.#label.length - tail.length - 10;
    const width = Math.max(0, Math.min(30, room));
    const filled = this.#total > 0
      ? Math.round((width * this.#done) / this.#total)
      : width;
    const bar = width > 0
      ? ` [${"#".repeat(filled)}${"-".repeat(width - filled)}]`
      : "";
    return `${this.#label}${bar} ${pct.toFixed(0).padStart(3)}%  ${tail}`;
  }

  #draw(final: boolean): void {
    const line = this.line();
    if (this.#sink.isTerminal) {
      this.#sink.write(`\r\x1b[2K${line}${final ? "\n" : ""}`);
    } else {
      this.#sink.write(`${line}\n`);
    }
  }
}
