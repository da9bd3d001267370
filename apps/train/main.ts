/**
 * `deno task train`: trains the teachers, stores their logits, distills the
 * ViT student and reports. `deno task train --help` lists the commands,
 * presets and flags; `docs/training.md` describes them.
 *
 * @module
 */
import { listModels } from "@vitkd/models";
import { checkModelNames, checkPaths, parseCommandLine } from "./cli.ts";
import { EXIT_CODES, reportFailure } from "./errors.ts";
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
 * Runs the CLI and returns its exit code: 0 done, 130 interrupted
 * (checkpoint written), and for a failure the code {@linkcode ERROR_TABLE}
 * gives its error (2 usage error, nothing done; 3 data; 4 logit store;
 * 5 model; 6 training; 7 backend; 8 run folder; 1 anything unexpected,
 * printed with its stack).
 */
export async function main(
  args: string[],
  io: PipelineIo = consoleIo(),
): Promise<number> {
  try {
    const parsed = parseCommandLine(args);
    if (parsed.help) {
      io.out(parsed.helpText + "\n");
      return EXIT_CODES.ok;
    }
    await checkPaths(parsed);
    if (!["verify", "inspect", "merge"].includes(parsed.options.command)) {
      checkModelNames(parsed.config, listModels());
    }
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
    return reportFailure(error, {
      log: (line) => io.log(line),
      command: "deno task train",
    });
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
