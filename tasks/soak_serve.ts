// Bounded robustness measurements of `deno task serve` on loopback:
//   deno run -A tasks/soak_serve.ts [--requests 10000] [--clients 128]
//     [--backend wasm] [--warmup 500] [--rounds 1] [--only-load]
//     [-- SERVE FLAGS]   (e.g. -- --header-timeout-ms 10000)
// Starts the server in a subprocess with an untrained student shaped like the
// `quick` preset's (vit-tiny, 28x28 grey) and measures, in order:
//  1. /v2/health/live latency while the largest allowed image (4000x4000,
//     16 MP) decodes;
//  1b. the server's RSS around two 12 MP JPEG uploads;
//  2. how fast a 40,000,000 x 1 PNG and a 60 MB JSON body are refused, and
//     the server's RSS around them;
//  3. N requests (one 28x28 PNG each to /v1/predict) at C concurrent
//     clients after a warm-up: errors, requests/s, p50/p99 latency, mean
//     batch, and RSS at the start and end of the N requests.
// Only 127.0.0.1 is contacted; the work is fixed, not timed.
import { Buffer } from "node:buffer";
import { parseTaskArgs } from "./_cli.ts";
import { startServeProcess } from "./_serve_process.ts";
import jpeg from "jpeg-js";
import { initBackend } from "@vitkd/backend";
import {
  bigGreyPng,
  encodePng,
  saveQuickStudent,
} from "../apps/serve/testing.ts";

const { args: flags } = parseTaskArgs({
  command: "deno run -A tasks/soak_serve.ts",
  summary:
    `Bounded robustness measurements of \`deno task serve\` on loopback: health
latency during a 16 MP decode, RSS around big uploads, how fast oversized
bodies are refused, then N requests at C clients (errors, requests/s,
p50/p99, mean batch, RSS).`,
  flags: {
    requests: { arg: "N", default: "10000", help: "requests of the load" },
    clients: { arg: "C", default: "128", help: "concurrent clients" },
    backend: { arg: "NAME", default: "wasm", help: "the server's backend" },
    warmup: { arg: "N", default: "500", help: "warm-up requests" },
    rounds: { arg: "N", default: "1", help: "load rounds" },
    root: {
      arg: "DIR",
      help: "serve another checkout (e.g. an older commit) for comparison",
    },
    "v8-flags": {
      arg: "FLAGS",
      help: "V8 flags for the server process (default: the serve task's)",
    },
    "only-load": {
      help: `skip the big-image and refusal measurements (their memory
would blur the load's RSS figures)`,
    },
  },
  rest: "[-- SERVE FLAGS]",
  epilogue:
    "Arguments after -- go to the server (e.g. -- --header-timeout-ms 10000).",
});
const requests = Number(flags.requests);
const clients = Number(flags.clients);
const warmup = Number(flags.warmup);
const ROOT = flags.root ?? new URL("../", import.meta.url).pathname;
const work = await Deno.makeTempDir({ prefix: "vitkd-soak-serve-" });

await initBackend({ backend: "wasm" });
const modelDir = await saveQuickStudent(`${work}/student`, "soak");

const { url, child } = await startServeProcess({
  root: ROOT,
  v8Flags: flags["v8-flags"],
  args: [
    "--model",
    modelDir,
    "--name",
    "student",
    "--port",
    "0",
    "--backend",
    flags.backend,
    ...(flags.root ? [] : ["--no-access-log"]),
    ...flags._.map(String),
  ],
});

function rssMiB(): number {
  const status = Deno.readTextFileSync(`/proc/${child.pid}/status`);
  const kb = Number(status.match(/VmRSS:\s+(\d+)/)?.[1] ?? NaN);
  return kb / 1024;
}
const mib = (x: number) => `${x.toFixed(1)} MiB`;
const post = (path: string, body: BodyInit, type: string) =>
  fetch(`${url}${path}`, {
    method: "POST",
    body,
    headers: { "content-type": type },
  });

console.log(
  `server pid ${child.pid}, ${navigator.hardwareConcurrency} logical CPUs, RSS after start ${
    mib(rssMiB())
  }`,
);

// 1. Liveness while the largest allowed image decodes.
if (!flags["only-load"]) {
  const png = await bigGreyPng(4000, 4000, 120);
  const before = rssMiB();
  const started = performance.now();
  let decoding = true;
  const big = post("/v1/predict", png, "image/png").then(async (r) => {
    await r.body?.cancel();
    decoding = false;
    return [r.status, performance.now() - started];
  });
  const latencies: number[] = [];
  let peak = before;
  while (decoding) {
    const t = performance.now();
    const live = await fetch(`${url}/v2/health/live`);
    await live.body?.cancel();
    if (decoding) latencies.push(performance.now() - t);
    peak = Math.max(peak, rssMiB());
    await new Promise((r) => setTimeout(r, 20));
  }
  const [status, ms] = await big;
  latencies.sort((a, b) => a - b);
  console.log(
    `16 MP PNG (${png.length} bytes): ${status} in ${
      (ms as number).toFixed(0)
    } ms; /v2/health/live during it: ${latencies.length} checks, median ${
      latencies[latencies.length >> 1]?.toFixed(1)
    } ms, max ${latencies.at(-1)?.toFixed(1)} ms; RSS ${mib(before)} -> peak ${
      mib(peak)
    }`,
  );
}

// 1b. A 12 MP photo-sized JPEG: what its decode costs the server's memory,
// and whether the memory comes back (the worker that decoded it is stopped).
if (!flags["only-load"]) {
  const [w, h] = [4000, 3000];
  const rgba = Buffer.alloc(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 4;
      rgba[i] = (x * 255 / w) | 0;
      rgba[i + 1] = (y * 255 / h) | 0;
      rgba[i + 2] = ((x + y) >> 5) & 255;
      rgba[i + 3] = 255;
    }
  }
  const photo = Uint8Array.from(
    jpeg.encode({ data: rgba, width: w, height: h }, 90).data,
  );
  for (let k = 1; k <= 2; k++) {
    const before = rssMiB();
    let peak = before;
    const sampler = setInterval(() => peak = Math.max(peak, rssMiB()), 20);
    const started = performance.now();
    const res = await post("/v1/predict", photo, "image/jpeg");
    await res.body?.cancel();
    const ms = performance.now() - started;
    await new Promise((r) => setTimeout(r, 1000));
    clearInterval(sampler);
    console.log(
      `12 MP JPEG (${photo.length} bytes) #${k}: ${res.status} in ${
        ms.toFixed(0)
      } ms; RSS ${mib(before)} -> peak ${mib(peak)} -> 1 s later ${
        mib(rssMiB())
      }`,
    );
  }
}

// 2. Refusals.
if (!flags["only-load"]) {
  const long = await bigGreyPng(40_000_000, 1, 0);
  let t = performance.now();
  let res = await post("/v1/predict", long, "image/png");
  await res.body?.cancel();
  console.log(
    `40,000,000 x 1 PNG (${long.length} bytes): ${res.status} in ${
      (performance.now() - t).toFixed(1)
    } ms`,
  );
  const before = rssMiB();
  const json = new TextEncoder().encode(
    JSON.stringify({ pad: "x".repeat(60 * 1024 * 1024) }),
  );
  t = performance.now();
  res = await post("/v2/models/student/infer", json, "application/json");
  await res.body?.cancel();
  console.log(
    `60 MB JSON body: ${res.status} in ${
      (performance.now() - t).toFixed(1)
    } ms; RSS ${mib(before)} -> ${mib(rssMiB())}`,
  );
}

// 3. N requests at C clients.
const image = encodePng(28, 28, 1, (x, y) => (x * 7 + y * 11) % 256);
async function load(total: number): Promise<{
  errors: number;
  statuses: Map<number, number>;
  latencies: number[];
  seconds: number;
  peak: number;
}> {
  let next = 0;
  let errors = 0;
  let peak = 0;
  const statuses = new Map<number, number>();
  const latencies: number[] = [];
  const sampler = setInterval(() => peak = Math.max(peak, rssMiB()), 100);
  const started = performance.now();
  await Promise.all(Array.from({ length: clients }, async () => {
    while (next < total) {
      next++;
      const t = performance.now();
      try {
        const res = await post("/v1/predict", image, "image/png");
        await res.arrayBuffer();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status !== 200) errors++;
      } catch {
        // A failed request is what the soak counts and reports.
        errors++;
      }
      latencies.push(performance.now() - t);
    }
  }));
  clearInterval(sampler);
  return {
    errors,
    statuses,
    latencies: latencies.sort((a, b) => a - b),
    seconds: (performance.now() - started) / 1000,
    peak,
  };
}
async function memory(): Promise<string> {
  if (flags.root) return "(no /metrics)";
  const text = await (await fetch(`${url}/metrics`)).text();
  const read = (name: string) =>
    Number(text.match(new RegExp(`^${name} (\\S+)$`, "m"))?.[1]) / 2 ** 20;
  return `heap used ${read("deno_heap_used_bytes").toFixed(1)} MiB, total ${
    read("deno_heap_total_bytes").toFixed(1)
  } MiB, external ${read("deno_external_memory_bytes").toFixed(1)} MiB`;
}
await load(warmup);
console.log(`after warm-up: ${await memory()}`);
// Each round is N requests; the last round is the measured one, earlier
// rounds show whether RSS settles (allocators and JIT reach a steady state).
const rounds = Number(flags.rounds);
for (let round = 1; round <= rounds; round++) {
  const start = rssMiB();
  const statsBefore = await (await fetch(`${url}/v1/stats`)).json();
  const run = await load(requests);
  const end = rssMiB();
  const stats = await (await fetch(`${url}/v1/stats`)).json();
  const pct = (p: number) =>
    run.latencies[Math.floor(p * (run.latencies.length - 1))];
  console.log(
    `round ${round}: ${requests} requests at ${clients} clients: ${run.errors} errors (statuses ${
      JSON.stringify(Object.fromEntries(run.statuses))
    }), ${(requests / run.seconds).toFixed(0)} req/s, p50 ${
      pct(0.5).toFixed(1)
    } ms, p99 ${pct(0.99).toFixed(1)} ms, mean batch ${
      ((stats.images - statsBefore.images) /
        (stats.batches - statsBefore.batches)).toFixed(1)
    }`,
  );
  console.log(
    `  RSS: start ${mib(start)}, peak ${mib(run.peak)}, end ${
      mib(end)
    } (end/start ${(end / start).toFixed(3)}); ${await memory()}`,
  );
}

child.kill("SIGTERM");
await child.status;
await Deno.remove(work, { recursive: true });
