// Runs `deno ARGS` in a subprocess from the repository root, for the tests
// that drive a task or an app as a user would.

/** The repository root (with a trailing slash). */
export const ROOT: string = new URL("..", import.meta.url).pathname;

/** What a subprocess left: its exit code, its output and how long it took. */
export interface DenoRun {
  code: number;
  stdout: string;
  stderr: string;
  /** Wall time, in milliseconds. */
  ms: number;
}

/** Runs `deno ...args` in ROOT and collects its output. */
export async function runDeno(args: string[]): Promise<DenoRun> {
  const start = performance.now();
  const output = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
    ms: performance.now() - start,
  };
}

/**
 * The permission flags of a `deno task` in the root deno.json (`--allow-...`),
 * so that a test runs an app with exactly the permissions its task grants.
 */
export function taskPermissions(task: string): string[] {
  const config = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`));
  const entry = config.tasks[task];
  const command: string = typeof entry === "string" ? entry : entry.command;
  return command.split(/\s+/).filter((word) => word.startsWith("--allow-"));
}
