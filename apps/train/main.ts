/**
 * `deno task train`: trains the teachers, stores their logits, distills the
 * ViT student and reports. `deno task train --help` lists the commands,
 * presets and flags; `docs/training.md` describes them.
 *
 * @module
 */
import { listModels } from "@vitkd/models";
import {
  checkModelNames,
  checkPaths,
  parseCommandLine,
  UsageError,
} from "./cli.ts";
import type { ParsedCommandLine } from "./config.ts";
import { type PipelineIo, runPipeline } from "./pipeline.ts";
import {
  inspectCommand,
  mergeCommand,
  verifyCommand,
} from "./store_commands.ts";

const encoder = new TextEncoder();

function writeAll(
  stream: { writeSync(p: Uint8Array): number },
  text: string,
): void {
  const bytes = encoder.encode(text);
  let written = 0;
  while (written < bytes.length) {
    written += stream.writeSync(bytes.subarray(written));
  }
}

/** The default IO: status and progress on stderr, the report on stdout. */
export function consoleIo(): PipelineIo {
  return {
    log: (message) => writeAll(Deno.stderr, message + "\n"),
    out: (text) => writeAll(Deno.stdout, text),
  };
}

/**
 * Runs the CLI and returns its exit code: 0 success, 1 failure, 2 usage
 * error (nothing done), 130 interrupted (checkpoint written).
 */
export async function main(
  args: string[],
  io: PipelineIo = consoleIo(),
): Promise<number> {
  let parsed: ParsedCommandLine;
  try {
    parsed = parseCommandLine(args);
    if (parsed.help) {
      io.out(parsed.helpText + "\n");
      return 0;
    }
    await checkPaths(parsed);
    if (!["verify", "inspect", "merge"].includes(parsed.options.command)) {
      checkModelNames(parsed.config, listModels());
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.log(`error: ${error.message}`);
      return error.exitCode;
    }
    throw error;
  }
  try {
    switch (parsed.options.command) {
      case "verify":
        return await verifyCommand(parsed, io);
      case "inspect":
        return await inspectCommand(parsed, io);
      case "merge":
        return await mergeCommand(parsed, io);
      default:
        return await runPipeline(parsed, io);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.log(`error: ${error.message}`);
      return error.exitCode;
    }
    io.log(`error: ${error instanceof Error ? error.message : String(error)}`);
    if (Deno.env.get("VITKD_DEBUG") && error instanceof Error) {
      io.log(error.stack ?? "");
    }
    return 1;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
