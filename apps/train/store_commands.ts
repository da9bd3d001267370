import {
  formatInspect,
  inspectStore,
  mergeShards,
  verifyStore,
} from "@vitkd/logit-store";
import { join } from "node:path";
import type { ParsedCommandLine } from "./config.ts";
import { EXIT_CODES } from "./errors.ts";
import type { PipelineIo } from "./pipeline.ts";
import { ProgressBar } from "./progress.ts";
import { loadRunData } from "./run_data.ts";
import { loadRunState, runPaths } from "./run_folder.ts";

function storePaths(parsed: ParsedCommandLine): string[] {
  const { options } = parsed;
  if (options.paths.length > 0) return options.paths;
  return [runPaths(join(options.runsDir, options.name!)).store];
}

/**
 * `verify`: checks every checksum of each store; exits with
 * {@linkcode EXIT_CODES}`.store` when one is bad.
 */
export async function verifyCommand(
  parsed: ParsedCommandLine,
  io: PipelineIo,
): Promise<number> {
  let failed = 0;
  for (const path of storePaths(parsed)) {
    let bar: ProgressBar | undefined;
    const report = await verifyStore(path, {
      onProgress: ({ done, total }) => {
        bar ??= new ProgressBar({
          label: `verify ${path}`,
          total,
          unit: "chunk",
          sink: io.sink,
        });
        bar.update(done);
      },
    });
    bar?.finish();
    if (report.ok) {
      io.out(
        `ok ${path}: ${report.chunksChecked}/${report.chunksTotal} chunks, ${
          report.bytes.toLocaleString("en-US")
        } bytes\n`,
      );
    } else {
      failed++;
      io.out(`BAD ${path}: ${report.problem}\n`);
    }
  }
  return failed > 0 ? EXIT_CODES.store : EXIT_CODES.ok;
}

/**
 * `inspect`: prints each store's header and statistics; with `--name` the
 * run's training labels give each teacher's and the ensemble's accuracy.
 */
export async function inspectCommand(
  parsed: ParsedCommandLine,
  io: PipelineIo,
): Promise<number> {
  let labels: Int32Array | undefined;
  if (parsed.options.name !== undefined) {
    const state = await loadRunState(
      join(parsed.options.runsDir, parsed.options.name),
    );
    const data = await loadRunData(
      state.config,
      parsed.options.cacheDir,
      io.sink,
    );
    labels = data.train.labels;
  }
  for (const path of storePaths(parsed)) {
    const report = await inspectStore(path, labels);
    io.out(formatInspect(report) + "\n");
  }
  return 0;
}

/** `merge`: joins precompute shards into one store. */
export async function mergeCommand(
  parsed: ParsedCommandLine,
  io: PipelineIo,
): Promise<number> {
  let bar: ProgressBar | undefined;
  const result = await mergeShards(parsed.options.paths, parsed.options.out!, {
    overwrite: parsed.options.force,
    onProgress: ({ done, total }) => {
      bar ??= new ProgressBar({
        label: "merge",
        total,
        unit: "chunk",
        sink: io.sink,
      });
      bar.update(done);
    },
  });
  bar?.finish();
  io.out(
    `merged ${parsed.options.paths.length} shard(s) into ${result.path}: ${result.chunks} chunks, ${
      result.bytes.toLocaleString("en-US")
    } bytes\n`,
  );
  return 0;
}
