import { describeBackend, initBackend } from "@vitkd/backend";
import { ModelError } from "@vitkd/models";
import { EXIT_CODES, reportFailure } from "@vitkd/train/errors";
import { createApp } from "./app.ts";
import type { MicroBatcherOptions } from "./batcher.ts";
import { HELP, parseServeArgs, type ServeConfig } from "./cli.ts";
import { loadRunner, warmUp } from "./model.ts";
import { warmUpRequests } from "./warm_up.ts";
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
    throw new ModelError(
      `no trained model: ${config.runsDir}/ holds no complete run; ${TRAIN_HINT}${seen}`,
      { code: "not-found", path: config.runsDir },
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

// Exit codes and messages of a failed start come from the apps' one error
// table (@vitkd/train/errors): 2 usage, 5 model, 7 backend, 1 unexpected.
function failed(error: unknown): number {
  return reportFailure(error, {
    log: (line) => console.error(line),
    command: "deno task serve",
    prefix: "serve: ",
  });
}

/**
 * `deno task serve`: loads the model, serves it until SIGINT or SIGTERM, then
 * finishes in-flight requests and returns the exit code (see `--help`).
 */
export async function main(
  args: string[],
  options: MainOptions = {},
): Promise<number> {
  let config: ServeConfig;
  try {
    config = parseServeArgs(args);
  } catch (error) {
    return failed(error);
  }
  if (config.help) {
    console.log(HELP);
    return EXIT_CODES.ok;
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
      if (!(error instanceof ModelError)) throw error;
      throw new ModelError(
        `cannot load the model in ${model.dir}: ${error.message}\n  ${TRAIN_HINT}`,
        { code: error.code, path: error.path, cause: error },
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
    const warmStart = performance.now();
    const warmed = await warmUpRequests(
      served,
      config.warmUpRequests,
      // below both queues' limits, so no warm-up request is turned away
      Math.min(
        128,
        config.maxQueue,
        config.decodeWorkers + config.maxDecodeQueue,
      ),
    );
    if (warmed > 0) {
      console.error(
        `serve: warmed up with ${warmed} predictions in ${
          Math.round(performance.now() - warmStart)
        } ms`,
      );
    }
  } catch (error) {
    return failed(error);
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
    return EXIT_CODES.unexpected;
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
  return EXIT_CODES.ok;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
