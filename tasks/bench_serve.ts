// Serving benchmark: `deno task serve` in a subprocess under load from wrk
// (a separate process) on loopback, at several client counts, with
// micro-batching on and off, plus in-process inference as the ceiling.
//
//   deno run -A tasks/bench_serve.ts [--model DIR] [--backend wasm]
//     [--duration 5] [--concurrency 1,8,32,128] [--max-batch 32] [--window-ms 2]
//
// Without --model it serves an untrained student shaped like the `quick`
// preset's (vit-tiny, patch 7, 28x28 grey, 10 classes, 2 distillation
// tokens): the weights do not change the speed.
import { parseTaskArgs } from "./_cli.ts";
import { machineLine } from "./_machine.ts";
import { type ServeProcess, startServeProcess } from "./_serve_process.ts";
import {
  type BackendChoice,
  describeBackend,
  initBackend,
} from "@vitkd/backend";
import { encodePng, saveQuickStudent } from "../apps/serve/testing.ts";
import { loadRunner } from "@vitkd/serve";

const { args: flags, fail } = parseTaskArgs({
  command: "deno task bench:serve",
  summary:
    `Requests/s and p50/p99 latency of \`deno task serve\` under wrk on loopback
at several client counts, micro-batching on and off, and in-process inference
as the ceiling.`,
  flags: {
    model: {
      arg: "DIR",
      help: "a saved student (default: an untrained quick-shaped vit-tiny)",
    },
    backend: { arg: "NAME", default: "wasm", help: "the server's backend" },
    duration: { arg: "S", default: "5", help: "seconds of load per run" },
    concurrency: {
      arg: "LIST",
      default: "1,8,32,128",
      help: "client counts",
    },
    "max-batch": { arg: "N", default: "32", help: "micro-batch size" },
    "window-ms": { arg: "MS", default: "2", help: "micro-batch window" },
    "v8-flags": {
      arg: "FLAGS",
      help: "V8 flags for the server process (default: the serve task's)",
    },
  },
});
const duration = Number(flags.duration);
const concurrencies: number[] = String(flags.concurrency).split(",").map(
  Number,
);
const maxBatch = Number(flags["max-batch"]);
const windowMs = Number(flags["window-ms"]);
if (
  !(duration > 0) ||
  !concurrencies.every((c) => Number.isInteger(c) && c > 0) ||
  !(maxBatch > 0) || !(windowMs >= 0)
) {
  fail(
    "--duration, --concurrency, --max-batch, --window-ms must be positive numbers",
  );
}

function have(command: string): boolean {
  return (Deno.env.get("PATH") ?? "").split(":").some((dir) => {
    try {
      return Deno.statSync(`${dir}/${command}`).isFile;
    } catch {
      // Not in this folder (or unreadable): look in the next one.
      return false;
    }
  });
}
if (!have("wrk")) {
  console.error("bench_serve: wrk is not installed (apt-get install -y wrk)");
  Deno.exit(1);
}

const ROOT = new URL("../", import.meta.url).pathname;
const work = await Deno.makeTempDir({ prefix: "vitkd-bench-serve-" });
const backend = await initBackend({ backend: flags.backend as BackendChoice });
console.log(machineLine());
console.log(`backend: ${describeBackend(backend)}`);

const modelDir = flags.model ??
  await saveQuickStudent(`${work}/student`, "bench");

// In-process ceiling: the runner alone, no HTTP, no decoding.
const runner = await loadRunner(modelDir);
const { height, width, channels } = runner.info.input;
console.log(
  `model: ${runner.info.architecture} ${height}x${width}x${channels}, ${runner.info.classNames.length} classes, ${runner.info.heads.length} heads (${modelDir})`,
);
async function inProcess(batch: number): Promise<number> {
  const data = new Uint8Array(batch * height * width * channels).map((_, i) =>
    (i * 31) % 256
  );
  for (let i = 0; i < 3; i++) {
    await runner.predict({ dtype: "uint8", data, count: batch });
  }
  let images = 0;
  const started = performance.now();
  while (performance.now() - started < 2000) {
    await runner.predict({ dtype: "uint8", data, count: batch });
    images += batch;
  }
  return images / ((performance.now() - started) / 1000);
}
const ceilingBatch = await inProcess(maxBatch);
const ceilingOne = await inProcess(1);
runner.dispose();
console.log(
  `in-process inference: ${
    ceilingBatch.toFixed(0)
  } images/s at batch ${maxBatch}, ${
    ceilingOne.toFixed(0)
  } images/s at batch 1`,
);

const imagePath = `${work}/image.png`;
await Deno.writeFile(
  imagePath,
  encodePng(
    width,
    height,
    channels === 1 ? 1 : 3,
    (x, y, c) => (x * 7 + y * 11 + c * 50) % 256,
  ),
);
const script = `${work}/post_image.lua`;
await Deno.writeTextFile(
  script,
  `-- POST one PNG to /v1/predict
local f = assert(io.open(os.getenv("BENCH_IMAGE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "image/png"
`,
);

interface Row {
  batching: string;
  clients: number;
  rps: number;
  p50: string;
  p99: string;
  errors: string;
  meanBatch: string;
}

function startServe(batching: boolean): Promise<ServeProcess> {
  return startServeProcess({
    root: ROOT,
    v8Flags: flags["v8-flags"],
    args: [
      "--model",
      modelDir!,
      "--port",
      "0",
      "--backend",
      flags.backend,
      "--max-batch",
      String(maxBatch),
      "--batch-window-ms",
      String(windowMs),
      ...(batching ? [] : ["--no-batching"]),
      // stderr is not read here: a log line per request would fill the pipe
      "--no-access-log",
    ],
    stderr: "piped",
  });
}

function toMs(text: string): string {
  const m = text.match(/([\d.]+)(us|ms|s)/);
  if (!m) return text;
  const value = Number(m[1]) * (m[2] === "us" ? 1e-3 : m[2] === "s" ? 1e3 : 1);
  return value.toFixed(value < 10 ? 2 : 1);
}

async function wrk(
  url: string,
  clients: number,
): Promise<Omit<Row, "batching" | "meanBatch">> {
  const out = await new Deno.Command("wrk", {
    args: [
      `-t${Math.min(2, clients)}`,
      `-c${clients}`,
      `-d${duration}s`,
      "--timeout",
      "20s",
      "--latency",
      "-s",
      script,
      `${url}/v1/predict`,
    ],
    env: { BENCH_IMAGE: imagePath },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (out.code !== 0) {
    throw new Error(`wrk failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  const rps = Number(text.match(/Requests\/sec:\s+([\d.]+)/)?.[1] ?? NaN);
  const p50 = text.match(/\s50%\s+(\S+)/)?.[1] ?? "?";
  const p99 = text.match(/\s99%\s+(\S+)/)?.[1] ?? "?";
  const non2xx = Number(
    text.match(/Non-2xx or 3xx responses:\s+(\d+)/)?.[1] ?? 0,
  );
  const socket = text.match(/Socket errors:.*/)?.[0];
  const errors = non2xx > 0 || socket
    ? `${non2xx} non-2xx${socket ? `; ${socket}` : ""}`
    : "0";
  return { clients, rps, p50: toMs(p50), p99: toMs(p99), errors };
}

async function serverStats(
  url: string,
): Promise<{ images: number; batches: number }> {
  const res = await fetch(`${url}/v1/stats`);
  return await res.json();
}

const rows: Row[] = [];
try {
  for (const batching of [true, false]) {
    const { url, child } = await startServe(batching);
    // Drain the server's logs so it never blocks on a full pipe.
    const logs = new Response(child.stderr).text();
    try {
      // warm up: compile kernels for the batch sizes the run will see
      // Warm-up only: the measured runs below report their own failures.
      await wrk(url, Math.max(...concurrencies)).catch(() => {});
      for (const clients of concurrencies) {
        const before = await serverStats(url);
        const row = await wrk(url, clients);
        const after = await serverStats(url);
        const images = after.images - before.images;
        const batches = after.batches - before.batches;
        rows.push({
          batching: batching ? `on (max ${maxBatch}, ${windowMs} ms)` : "off",
          ...row,
          meanBatch: batches > 0 ? (images / batches).toFixed(1) : "?",
        });
        console.error(
          `  batching ${batching ? "on" : "off"}, ${clients} clients: ${
            row.rps.toFixed(0)
          } req/s`,
        );
      }
    } finally {
      child.kill("SIGTERM");
      const status = await child.status;
      const log = await logs;
      if (status.code !== 0) {
        console.error(`serve exited ${status.code}:\n${log}`);
      }
    }
  }
} finally {
  await Deno.remove(work, { recursive: true });
}

console.log(
  `\nPOST /v1/predict, one ${width}x${height} PNG per request, wrk ${duration}s per row, loopback\n`,
);
console.log(
  "| batching | clients | requests/s | p50 ms | p99 ms | mean batch | errors |",
);
console.log("| --- | ---: | ---: | ---: | ---: | ---: | --- |");
for (const r of rows) {
  console.log(
    `| ${r.batching} | ${r.clients} | ${
      r.rps.toFixed(0)
    } | ${r.p50} | ${r.p99} | ${r.meanBatch} | ${r.errors} |`,
  );
}
console.log(
  `| in-process ceiling | - | ${
    ceilingBatch.toFixed(0)
  } images/s (batch ${maxBatch}) | - | - | ${maxBatch} | - |`,
);
