// Does the server keep memory per request? Runs the app in this process
// (the quick-shaped untrained student on wasm, HTTP on loopback), sends
// rounds of N requests at C clients and, after each round, forces a full
// garbage collection and prints the V8 heap in use and the RSS:
//   deno run -A --v8-flags=--expose-gc tasks/heap_check_serve.ts
//     [--requests 5000] [--clients 128] [--rounds 6]
// A flat heap after collection means no JavaScript object outlives its
// request; RSS without a trend means nothing native does either.
import { parseTaskArgs } from "./_cli.ts";
import { initBackend } from "@vitkd/backend";
import { createApp, loadRunner, startServer } from "@vitkd/serve";
import { encodePng, saveQuickStudent } from "../apps/serve/testing.ts";

const { args: flags, fail } = parseTaskArgs({
  command: "deno run -A --v8-flags=--expose-gc tasks/heap_check_serve.ts",
  summary:
    `Does the server keep memory per request? Rounds of requests against the app
in this process, a full garbage collection after each, the V8 heap in use
and the RSS printed.`,
  flags: {
    requests: { arg: "N", default: "5000", help: "requests per round" },
    clients: { arg: "C", default: "128", help: "concurrent clients" },
    rounds: { arg: "N", default: "6", help: "rounds" },
  },
});
const gc = (globalThis as { gc?: () => void }).gc ??
  fail("run with --v8-flags=--expose-gc");
await initBackend({ backend: "wasm" });
const dir = await Deno.makeTempDir({ prefix: "vitkd-heap-check-" });
await saveQuickStudent(dir, "heap-check");
const served = createApp({ runner: await loadRunner(dir) });
const server = startServer(served, { port: 0 });
const png = encodePng(28, 28, 1, (x, y) => (x * 7 + y * 11) % 256);
const requests = Number(flags.requests);
let errors = 0;
async function round(): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Number(flags.clients) }, async () => {
      while (next < requests) {
        next++;
        const res = await fetch(`${server.url}/v1/predict`, {
          method: "POST",
          body: png,
          headers: { "content-type": "image/png" },
        });
        await res.arrayBuffer();
        if (res.status !== 200) errors++;
      }
    }),
  );
}
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
for (let r = 1; r <= Number(flags.rounds); r++) {
  await round();
  gc();
  await new Promise((resolve) => setTimeout(resolve, 50));
  gc();
  const m = Deno.memoryUsage();
  console.log(
    `round ${r}: ${
      r * requests
    } requests, ${errors} errors; after GC: heap used ${
      mib(m.heapUsed)
    } MiB, heap total ${mib(m.heapTotal)} MiB, external ${
      mib(m.external)
    } MiB, RSS ${mib(m.rss)} MiB`,
  );
}
await server.shutdown();
served.runner.dispose();
await Deno.remove(dir, { recursive: true });
