import { assert, assertEquals, assertMatch } from "@std/assert";
import { initBackend } from "@vitkd/backend";
import { EXIT_CODES } from "@vitkd/train/errors";
import { saveTinyStudent } from "./testing.ts";

// The test process saves models too; wasm keeps tfjs quiet about Node.
await initBackend({ backend: "wasm" });

const ROOT = new URL("../../", import.meta.url).pathname;
// The same permissions as `deno task serve`.
const PERMISSIONS = [
  "--allow-read",
  "--allow-env",
  "--allow-net",
  "--allow-ffi",
  "--allow-sys",
];

function serve(args: string[], script = "apps/serve/main.ts"): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...PERMISSIONS,
      script,
      "--backend",
      "wasm",
      ...args,
    ],
    cwd: ROOT,
    stdin: script === "apps/serve/main.ts" ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  });
}

async function run(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await serve(args).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return {
    code: out.code,
    stdout: decode(out.stdout),
    stderr: decode(out.stderr),
  };
}

Deno.test("serve --help prints usage; bad flags exit 2 naming the flag", async () => {
  const help = await run(["--help"]);
  assertEquals(help.code, 0);
  assertMatch(help.stdout, /Usage: deno task serve/);
  assertMatch(help.stdout, /--max-batch/);
  const unknown = await run(["--bogus", "1"]);
  assertEquals(unknown.code, 2);
  assertMatch(unknown.stderr, /unknown arguments?: --bogus/);
  const port = await run(["--port", "http"]);
  assertEquals(port.code, 2);
  assertMatch(
    port.stderr,
    /--port must be an integer from 0 to 65535, got "http"/,
  );
});

Deno.test("serve without a trained model, or with a damaged one, refuses to start with the model exit code and says what to run", async () => {
  const root = await Deno.makeTempDir({ prefix: "vitkd-serve-main-" });
  try {
    const none = await run(["--runs", `${root}/runs`]);
    assertEquals(none.code, EXIT_CODES.model, none.stderr);
    assertMatch(none.stderr, /^serve: model error: no trained model/);
    assertMatch(none.stderr, /deno task train/);
    const dir = await saveTinyStudent(`${root}/runs`, "half");
    await Deno.writeTextFile(
      `${root}/runs/half/run.json`,
      JSON.stringify({ complete: false }),
    );
    const incomplete = await run(["--runs", `${root}/runs`]);
    assertEquals(incomplete.code, EXIT_CODES.model);
    assertMatch(incomplete.stderr, /half: run is not complete/);
    await Deno.writeTextFile(`${dir}/model.json`, "{ truncated");
    const damaged = await run(["--model", dir]);
    assertEquals(damaged.code, EXIT_CODES.model, damaged.stderr);
    // one line names the folder and the file at fault, the next what to run
    assertMatch(
      damaged.stderr,
      /^serve: model error: cannot load the model in .*half\/student: .*half\/student\/model\.json is not valid JSON/m,
    );
    assertMatch(damaged.stderr, /deno task train/);
    assert(!damaged.stderr.includes("    at "), "no stack for a typed error");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("serve loads the newest complete run and on SIGTERM finishes in-flight requests, then exits 0", async () => {
  const root = await Deno.makeTempDir({ prefix: "vitkd-serve-main-" });
  const runs = `${root}/runs`;
  await saveTinyStudent(runs, "older");
  await saveTinyStudent(runs, "newer");
  const done = (finishedAt: string) =>
    JSON.stringify({ complete: true, finishedAt });
  await Deno.writeTextFile(
    `${runs}/older/run.json`,
    done("2026-01-01T00:00:00Z"),
  );
  await Deno.writeTextFile(
    `${runs}/newer/run.json`,
    done("2026-02-01T00:00:00Z"),
  );
  // The model call waits for a line on stdin (the programmatic hook of
  // _main_gated.ts): the signal lands while the request is surely in flight.
  const child = serve(
    // no warm-up: its model calls would wait for stdin lines too
    [
      "--runs",
      runs,
      "--port",
      "0",
      "--no-access-log",
      "--warm-up-requests",
      "0",
    ],
    "apps/serve/_main_gated.ts",
  ).spawn();
  const stdin = child.stdin.getWriter();
  const stderrLines = child.stderr.pipeThrough(new TextDecoderStream())
    .getReader();
  let stderr = "";
  const waitForStderr = async (text: string) => {
    while (!stderr.includes(text)) {
      const { value, done } = await stderrLines.read();
      if (done) throw new Error(`no "${text}" in stderr: ${stderr}`);
      stderr += value;
    }
  };
  try {
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let banner = "";
    while (!banner.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) break;
      banner += value;
    }
    const url = banner.match(/listening on (http:\/\/127\.0\.0\.1:\d+)\//)?.[1];
    assert(url, `no listening line in ${JSON.stringify(banner)}`);
    assertMatch(banner, /model newer:/);
    const ready = await fetch(`${url}/v2/models/newer/ready`);
    assertEquals(await ready.json(), { name: "newer", ready: true });
    const inFlight = fetch(`${url}/v2/models/newer/infer`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        id: "last",
        inputs: [{
          name: "image",
          shape: [1, 12, 12, 1],
          datatype: "UINT8",
          data: new Array(144).fill(9),
        }],
      }),
    });
    await waitForStderr("model call waiting");
    child.kill("SIGTERM");
    await waitForStderr("shutting down");
    await stdin.write(new TextEncoder().encode("go\n"));
    const res = await inFlight;
    const body = await res.json();
    assertEquals(res.status, 200, JSON.stringify(body));
    assertEquals(body.id, "last");
    await lines.cancel();
    await stdin.close();
    const status = await child.status;
    assertEquals(status.code, 0);
    await waitForStderr("stopped after 1 images in 1 model calls");
    await stderrLines.cancel();
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
    await Deno.remove(root, { recursive: true });
  }
});
