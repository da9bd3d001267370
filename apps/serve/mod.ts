/**
 * The `deno task serve` app: a Hono server for a trained vitkd student, with
 * an image endpoint, the Open Inference Protocol (KServe v2) over HTTP/JSON,
 * a web page, and micro-batching of concurrent requests.
 *
 * ```ts ignore
 * import { createApp, loadRunner, startServer } from "@vitkd/serve";
 *
 * const runner = await loadRunner("runs/quick/student");
 * const server = startServer(createApp({ runner }), { port: 8000 });
 * console.log(`listening on ${server.url}`);
 * ```
 *
 * @module
 */
export * from "./app.ts";
export * from "./batcher.ts";
export * from "./body_deadline.ts";
export * from "./cli.ts";
export * from "./conn_guard.ts";
export * from "./context.ts";
export * from "./decode_pool.ts";
export * from "./errors.ts";
export * from "./image.ts";
export * from "./image_probe.ts";
export * from "./metrics.ts";
export * from "./model.ts";
export * from "./page.ts";
export * from "./protocol.ts";
export * from "./routes_v1.ts";
export * from "./routes_v2.ts";
export * from "./runner.ts";
export * from "./runs.ts";
export * from "./server.ts";
export * from "./weights_check.ts";
