/**
 * Starts `deno task serve` as a child process for the serving benchmarks,
 * as a user would run it, and waits for the address it prints.
 */

/** A running server process and the base URL it listens on. */
export interface ServeProcess {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  url: string;
  /** The child; its stdout is drained after the banner, its stderr as asked. */
  child: Deno.ChildProcess;
}

/** How to start the server. */
export interface ServeProcessOptions {
  /** The repository root (where `apps/serve/main.ts` is). */
  root: string;
  /** Arguments after `apps/serve/main.ts`. */
  args: string[];
  /** `--v8-flags` for the child (default: those of the root's `serve` task). */
  v8Flags?: string;
  /** Keep stderr to read it (`piped`) or drop it (`null`, the default). */
  stderr?: "piped" | "null";
}

/**
 * The `--v8-flags` of the `serve` task in `root`'s deno.json, so the
 * benchmarks run the server as `deno task serve` does (one place sets them).
 *
 * @param root The repository root.
 * @returns The flags' value, or `""` when the task sets none.
 */
export async function serveTaskV8Flags(root: string): Promise<string> {
  const config = JSON.parse(await Deno.readTextFile(`${root}/deno.json`));
  const task = config.tasks?.serve;
  const command: string = typeof task === "string" ? task : task?.command ?? "";
  return command.match(/--v8-flags=(\S+)/)?.[1] ?? "";
}

/**
 * Spawns the server and resolves once it prints `listening on <url>`.
 *
 * @param options The root, the server's arguments and what to do with stderr.
 * @returns The URL and the child process.
 */
export async function startServeProcess(
  options: ServeProcessOptions,
): Promise<ServeProcess> {
  const v8Flags = options.v8Flags ?? await serveTaskV8Flags(options.root);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...(v8Flags ? [`--v8-flags=${v8Flags}`] : []),
      "--allow-read",
      "--allow-env",
      "--allow-net",
      "--allow-ffi",
      "--allow-sys",
      "apps/serve/main.ts",
      ...options.args,
    ],
    cwd: options.root,
    stdout: "piped",
    stderr: options.stderr ?? "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let banner = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    banner += value;
    const url = banner.match(/listening on (http:\/\/\S+?)\/?\s/)?.[1];
    if (url) {
      // the rest of stdout is read and dropped, so the pipe never fills
      (async () => {
        while (!(await reader.read()).done) { /* drain */ }
      })().catch(() => {/* the child has exited */});
      return { url, child };
    }
  }
  const errors = options.stderr === "piped"
    ? await new Response(child.stderr).text()
    : "";
  throw new Error(`serve did not start: ${banner}\n${errors}`);
}
