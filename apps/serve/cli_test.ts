import { assertEquals, assertThrows } from "@std/assert";
import { parseServeArgs, UsageError } from "./cli.ts";

Deno.test("parseServeArgs: defaults bind loopback and batch", () => {
  const config = parseServeArgs([]);
  assertEquals(config.host, "127.0.0.1");
  assertEquals(config.port, 8000);
  assertEquals(config.backend, "auto");
  assertEquals(config.batching, true);
  assertEquals(config.model, undefined);
  assertEquals(config.runsDir, "runs");
  assertEquals(config.help, false);
  assertEquals(config.warmUpRequests, 1000);
});

Deno.test("parseServeArgs: reads every flag", () => {
  const config = parseServeArgs([
    "--model=m",
    "--host",
    "0.0.0.0",
    "--port",
    "0",
    "--backend",
    "cpu",
    "--max-bytes",
    "100",
    "--max-pixels=200",
    "--max-images",
    "3",
    "--max-json-bytes",
    "400",
    "--max-batch",
    "5",
    "--batch-window-ms",
    "0",
    "--no-batching",
    "--max-queue",
    "7",
    "--top-k",
    "2",
    "--name",
    "x",
    "--max-batch-bytes",
    "500",
    "--max-aspect-ratio",
    "9",
    "--body-timeout-ms",
    "600",
    "--decode-workers",
    "3",
    "--max-decode-queue",
    "0",
    "--warm-up-requests",
    "0",
    "--cors-origin",
    "https://a.example",
    "--cors-origin=http://b.example:8080",
    "--no-access-log",
  ]);
  assertEquals(config.model, "m");
  assertEquals([config.host, config.port, config.backend], [
    "0.0.0.0",
    0,
    "cpu",
  ]);
  assertEquals(config.limits, {
    maxBytes: 100,
    maxBatchBytes: 500,
    maxPixels: 200,
    maxAspectRatio: 9,
    maxResizeBytes: 64 * 1024 * 1024,
    maxImages: 3,
    maxJsonBytes: 400,
    bodyTimeoutMs: 600,
  });
  assertEquals(
    [config.decodeWorkers, config.maxDecodeQueue, config.warmUpRequests],
    [3, 0, 0],
  );
  assertEquals(config.corsOrigins, [
    "https://a.example",
    "http://b.example:8080",
  ]);
  assertEquals(config.accessLog, false);
  assertEquals([config.maxBatch, config.batchWindowMs, config.batching], [
    5,
    0,
    false,
  ]);
  assertEquals([config.maxQueue, config.topK, config.name], [7, 2, "x"]);
});

Deno.test("parseServeArgs: the production CLI has no test hooks; CORS origins are checked", () => {
  assertThrows(
    () => parseServeArgs(["--test-delay-ms", "400"]),
    UsageError,
    "unknown argument: --test-delay-ms",
  );
  assertThrows(
    () => parseServeArgs(["--cors-origin", "*"]),
    UsageError,
    "--cors-origin must be an origin",
  );
  assertEquals(parseServeArgs([]).limits.maxJsonBytes, undefined);
  assertEquals(parseServeArgs([]).limits.maxPixels, 16_000_000);
});

Deno.test("parseServeArgs: unknown flags, stray arguments and bad values are UsageErrors", () => {
  assertThrows(
    () => parseServeArgs(["--modle", "x"]),
    UsageError,
    "unknown argument: --modle",
  );
  assertThrows(
    () => parseServeArgs(["extra"]),
    UsageError,
    "unknown argument: extra",
  );
  assertThrows(
    () => parseServeArgs(["--port", "70000"]),
    UsageError,
    "--port must be an integer from 0 to 65535",
  );
  assertThrows(() => parseServeArgs(["--port", ""]), UsageError, "--port");
  assertThrows(
    () => parseServeArgs(["--warm-up-requests", "-1"]),
    UsageError,
    "--warm-up-requests",
  );
  assertThrows(
    () => parseServeArgs(["--max-batch", "0"]),
    UsageError,
    "--max-batch must be an integer from 1",
  );
  assertThrows(
    () => parseServeArgs(["--max-bytes", "1.5"]),
    UsageError,
    "--max-bytes",
  );
  assertThrows(
    () => parseServeArgs(["--backend", "tpu"]),
    UsageError,
    'got "tpu"',
  );
  assertThrows(
    () => parseServeArgs(["--model"]),
    UsageError,
    "--model needs a value",
  );
  assertThrows(
    () => parseServeArgs(["--port", "1", "--port", "2"]),
    UsageError,
    "more than once",
  );
});
