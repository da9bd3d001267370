/** Upper bounds of the request latency histogram, in seconds. */
export const LATENCY_BUCKETS = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

/** Upper bounds of the batch size histogram, in images. */
export const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];

class Histogram {
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(readonly bounds: number[]) {
    this.counts = new Array(bounds.length).fill(0);
  }
  observe(value: number): void {
    this.sum += value;
    this.count++;
    for (let i = 0; i < this.bounds.length; i++) {
      if (value <= this.bounds[i]) this.counts[i]++;
    }
  }
}

/** Gauges read when `/metrics` is scraped. */
export interface MetricsGauges {
  /** Images waiting for a model call. */
  batchQueue(): number;
  /** Uploads waiting for a decode worker. */
  decodeQueue(): number;
  /** Decode workers busy. */
  decodeBusy(): number;
}

function label(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(
    /\n/g,
    "\\n",
  );
}

/**
 * The server's counters in the Prometheus text format (version 0.0.4):
 * requests by method, route and status, a request latency histogram, a
 * batch size histogram and the queue depths.
 */
export class Metrics {
  readonly #requests = new Map<string, number>();
  #latency = new Histogram(LATENCY_BUCKETS);
  #batches = new Histogram(BATCH_BUCKETS);
  #gauges: MetricsGauges | undefined;

  /** Sets where the queue gauges are read from. */
  setGauges(gauges: MetricsGauges): void {
    this.#gauges = gauges;
  }

  /** Counts one answered request; `route` is the matched route pattern, not the path. */
  request(method: string, route: string, status: number, seconds: number) {
    const key = `method="${label(method)}",route="${
      label(route)
    }",status="${status}"`;
    this.#requests.set(key, (this.#requests.get(key) ?? 0) + 1);
    this.#latency.observe(seconds);
  }

  /** Forgets every count; the gauges stay. */
  reset(): void {
    this.#requests.clear();
    this.#latency = new Histogram(LATENCY_BUCKETS);
    this.#batches = new Histogram(BATCH_BUCKETS);
  }

  /** Counts one model call of `size` images. */
  batch(size: number): void {
    this.#batches.observe(size);
  }

  /** Everything, in the Prometheus text exposition format. */
  render(): string {
    const lines: string[] = [];
    lines.push(
      "# HELP vitkd_http_requests_total HTTP requests answered.",
      "# TYPE vitkd_http_requests_total counter",
    );
    for (const [key, n] of [...this.#requests].sort()) {
      lines.push(`vitkd_http_requests_total{${key}} ${n}`);
    }
    histogram(
      lines,
      "vitkd_http_request_duration_seconds",
      "Time from receiving a request to answering it.",
      this.#latency,
    );
    histogram(
      lines,
      "vitkd_batch_size",
      "Images per model call.",
      this.#batches,
    );
    const g = this.#gauges;
    const gauge = (name: string, help: string, value: number) =>
      lines.push(
        `# HELP ${name} ${help}`,
        `# TYPE ${name} gauge`,
        `${name} ${value}`,
      );
    gauge(
      "vitkd_batch_queue_depth",
      "Images waiting for a model call.",
      g?.batchQueue() ?? 0,
    );
    gauge(
      "vitkd_decode_queue_depth",
      "Uploads waiting for a decode worker.",
      g?.decodeQueue() ?? 0,
    );
    gauge(
      "vitkd_decode_workers_busy",
      "Decode workers decoding now.",
      g?.decodeBusy() ?? 0,
    );
    // Memory, to tell a growing JS heap from native growth (tfjs's wasm
    // memory, allocator) when RSS rises.
    const memory = Deno.memoryUsage();
    gauge(
      "process_resident_memory_bytes",
      "Resident set size of the server process.",
      memory.rss,
    );
    gauge("deno_heap_used_bytes", "V8 heap in use.", memory.heapUsed);
    gauge("deno_heap_total_bytes", "V8 heap reserved.", memory.heapTotal);
    gauge(
      "deno_external_memory_bytes",
      "Memory of objects outside the V8 heap (array buffers, wasm).",
      memory.external,
    );
    return lines.join("\n") + "\n";
  }
}

function histogram(
  lines: string[],
  name: string,
  help: string,
  h: Histogram,
): void {
  lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
  h.bounds.forEach((bound, i) =>
    lines.push(`${name}_bucket{le="${bound}"} ${h.counts[i]}`)
  );
  lines.push(
    `${name}_bucket{le="+Inf"} ${h.count}`,
    `${name}_sum ${h.sum}`,
    `${name}_count ${h.count}`,
  );
}
