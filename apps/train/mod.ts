/**
 * The `deno task train` app: parses the command line, runs the pipeline
 * (teachers → precompute → distill → eval) in a run folder with progress
 * bars, a metrics log, checkpoints and resume, and writes the report and
 * training curves. The store subcommands (`verify`, `inspect`, `merge`)
 * wrap `@vitkd/logit-store`.
 *
 * ```ts ignore
 * import { main } from "@vitkd/train";
 *
 * // the same as: deno task train --per-class 20 --epochs 2 --name demo
 * const code = await main(["--per-class", "20", "--epochs", "2", "--name", "demo"]);
 * ```
 *
 * @module
 */
export * from "./config.ts";
export * from "./cli.ts";
export * from "./errors.ts";
export * from "./presets.ts";
export * from "./progress.ts";
export * from "./metrics_log.ts";
export * from "./curves_svg.ts";
export * from "./report.ts";
export * from "./run_folder.ts";
export * from "./interrupt.ts";
export * from "./run_data.ts";
export * from "./training.ts";
export * from "./batch_norm_calibration.ts";
export * from "./context.ts";
export * from "./stage_teachers.ts";
export * from "./stage_precompute.ts";
export * from "./stage_distill.ts";
export * from "./stage_eval.ts";
export * from "./pipeline.ts";
export * from "./store_commands.ts";
export { consoleIo, main } from "./main.ts";
