import { describeBackend, initBackend } from "@vitkd/backend";
import { createApp } from "./app.ts";
import type { MicroBatcherOptions } from "./batcher.ts";
import { HELP, parseServeArgs, type ServeConfig, UsageError } from "./cli.ts";
import { loadRunner, warmUp } from "./model.ts";
import { findNewestCompleteRun, readRunTeachers } from "./runs.ts";
import { startServer } from "./server.ts";

const TRAIN_HINT = "run `deno task train` to train one, or pass --model DIR";

async function resolveModel(
  config: ServeConfig,
): Promise<{ dir: string; name?: string }> {
  if (config.model !== undefined) {
    return { dir: config.model, name: config.name };
  }
  const search = await findNewestCompleteRun(config.runsDir);
  if (!search.run) {
    const seen = search.skipped.length > 0
      ? `\n  skipped:\n    ${search.skipped.join("\n    ")}`
      : "";
    throw new Error(
      `no trained model: ${config.runsDir}/ holds no complete run; ${TRAIN_HINT}${seen}`,
    );
  }
  return { dir: search.run.modelDir, name: config.name ?? search.run.name };
}

/** Hooks for tests that run {@linkcode main} in a process of their own. */
export interface MainOptions {
  /** Batching hooks, e.g. `beforeRun` to hold a model call in flight. */
  batching?: Pick<MicroBatcherOptions, "beforeRun" | "onBatch">;
  /** Called once the server listens, with its URL. */
  onListen?: (url: string) => void;
}

/**
 * `deno task serve`: loads the model, serves it until SIGINT or SIGTERM, then
 * finishes in-flight requests and returns the exit code.
 */
export async function main(
  args: string[],
  options: MainOptions = {},
): Promise<number> {
  let config: ServeConfig;
  try {
    config = parseServeArgs(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`serve: ${error.message}`);
    return 2;
  }
  if (config.help) {
    console.log(HELP);
    return 0;
  }
  let served;
  let modelDir: string;
  try {
    const model = await resolveModel(config);
    modelDir = model.dir;
    const backend = await initBackend({ backend: config.backend });
    console.error(`serve: backend ${describeBackend(backend)}`);
    let runner;
    try {
      runner = await loadRunner(model.dir, {
        name: model.name,
        teachers: await readRunTeachers(model.dir),
      });
    } catch (error) {
      throw new Error(
        `cannot load the model in ${model.dir}: ${
          (error as Error).message
        }\n  ${TRAIN_HINT}`,
      );
    }
    await warmUp(runner, [1, config.batching ? config.maxBatch : 1]);
    served = createApp({
      runner,
      limits: config.limits,
      topK: config.topK,
      batching: {
        maxBatch: config.maxBatch,
        windowMs: config.batchWindowMs,
        enabled: config.batching,
        maxQueue: config.maxQueue,
        ...options.batching,
      },
      decoding: {
        workers: config.decodeWorkers,
        maxQueue: config.maxDecodeQueue,
      },
      corsOrigins: config.corsOrigins,
      accessLog: config.accessLog ? (line) => console.error(line) : undefined,
    });
    await served.decoder.warm(runner.info.input);
  } catch (error) {
    console.error(`serve: ${(error as Error).message}`);
    return 1;
  }
  let server;
  try {
    server = startServer(served, {
      hostname: config.host,
      port: config.port,
      headerTimeoutMs: config.headerTimeoutMs,
      idleTimeoutMs: config.idleTimeoutMs,
    });
  } catch (error) {
    console.error(
      `serve: cannot listen on ${config.host}:${config.port}: ${
        (error as Error).message
      }`,
    );
    await served.drain();
    served.runner.dispose();
    return 1;
  }
  const info = served.runner.info;
  console.log(
    `serve: model ${info.name}:${info.version} from ${modelDir}; listening on ${server.url}/`,
  );
  options.onListen?.(server.url);
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  let stopping = false;
  const stop = () => {
    if (stopping) {
      console.error("serve: second signal, exiting without waiting");
      Deno.exit(130);
    }
    stopping = true;
    console.error(
      "serve: shutting down, finishing in-flight requests (signal again to force)",
    );
    server.shutdown();
  };
  for (const signal of signals) Deno.addSignalListener(signal, stop);
  await server.finished;
  await server.shutdown();
  for (const signal of signals) Deno.removeSignalListener(signal, stop);
  const stats = served.batcher.stats;
  served.runner.dispose();
  console.error(
    `serve: stopped after ${stats.images} images in ${stats.batches} model calls`,
  );
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
