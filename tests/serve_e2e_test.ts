// End-to-end: the page at GET / driven in a real headless Chromium over the
// DevTools protocol, against a real saved student served on loopback.
import { assert, assertEquals } from "@std/assert";
import { initBackend } from "@vitkd/backend";
import {
  createApp,
  loadRunner,
  type PredictResponse,
  startServer,
} from "@vitkd/serve";
import { encodePng, saveTinyStudent } from "../apps/serve/testing.ts";

function findChromium(): string | undefined {
  const names = ["chromium", "chromium-browser", "google-chrome"];
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    for (const name of names) {
      try {
        if (Deno.statSync(`${dir}/${name}`).isFile) return `${dir}/${name}`;
      } catch { /* not here */ }
    }
  }
  return undefined;
}

const CHROMIUM = findChromium();
if (!CHROMIUM) {
  console.warn(
    "serve_e2e_test: skipped: no chromium on PATH (install it with `apt-get install -y chromium`)",
  );
}

/** A minimal DevTools protocol client over one WebSocket. */
class DevTools {
  #socket: WebSocket;
  #nextId = 1;
  #pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void }
  >();

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      const waiter = message.id !== undefined
        ? this.#pending.get(message.id)
        : undefined;
      if (!waiter) return;
      this.#pending.delete(message.id);
      if (message.error) {
        waiter.reject(
          new Error(`${message.error.message} (${message.error.code})`),
        );
      } else waiter.resolve(message.result);
    };
  }

  static connect(url: string): Promise<DevTools> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url);
      socket.onopen = () => resolve(new DevTools(socket));
      socket.onerror = () =>
        reject(new Error(`cannot connect to DevTools at ${url}`));
    });
  }

  send<T = Record<string, unknown>>(
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
  ): Promise<T> {
    const id = this.#nextId++;
    this.#socket.send(
      JSON.stringify({
        id,
        method,
        params,
        ...(sessionId ? { sessionId } : {}),
      }),
    );
    return new Promise((resolve, reject) => {
      this.#pending.set(id, {
        resolve: resolve as (v: unknown) => void,
        reject,
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.#socket.readyState === WebSocket.CLOSED) return resolve();
      this.#socket.onclose = () => resolve();
      this.#socket.close();
    });
  }
}

async function devToolsUrl(
  stderr: ReadableStream<Uint8Array>,
): Promise<string> {
  const reader = stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  // Chromium prints the address once it listens; a bounded number of reads.
  for (let i = 0; i < 1000; i++) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
    const url = text.match(/DevTools listening on (ws:\/\/\S+)/)?.[1];
    if (url) {
      // keep draining so Chromium never blocks on a full pipe
      (async () => {
        try {
          while (!(await reader.read()).done) { /* discard */ }
        } catch { /* closed */ }
      })();
      return url;
    }
  }
  throw new Error(`chromium did not print its DevTools address:\n${text}`);
}

async function poll<T>(
  what: string,
  read: () => Promise<T>,
  ok: (value: T) => boolean,
): Promise<T> {
  let value = await read();
  for (let i = 0; i < 300 && !ok(value); i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    value = await read();
  }
  if (!ok(value)) {
    throw new Error(
      `gave up waiting for ${what}: last ${JSON.stringify(value)}`,
    );
  }
  return value;
}

Deno.test({
  name:
    "the web page predicts a picked and a dropped image in headless Chromium",
  ignore: !CHROMIUM,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await initBackend({ backend: "wasm" });
    const root = await Deno.makeTempDir({ prefix: "vitkd-serve-e2e-" });
    const runner = await loadRunner(await saveTinyStudent(`${root}/runs`));
    const server = startServer(createApp({ runner }));
    const imagePath = `${root}/picked.png`;
    const png = encodePng(
      20,
      20,
      3,
      (x, y, c) => (x * 40 + y * 9 + c * 60) % 256,
    );
    await Deno.writeFile(imagePath, png);
    const browser = new Deno.Command(CHROMIUM!, {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        `--user-data-dir=${root}/profile`,
        "--remote-debugging-port=0",
        "about:blank",
      ],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    let devtools: DevTools | undefined;
    try {
      devtools = await DevTools.connect(await devToolsUrl(browser.stderr));
      const { targetId } = await devtools.send<{ targetId: string }>(
        "Target.createTarget",
        {
          url: `${server.url}/`,
        },
      );
      const { sessionId } = await devtools.send<{ sessionId: string }>(
        "Target.attachToTarget",
        { targetId, flatten: true },
      );
      const evaluate = async (expression: string): Promise<unknown> => {
        const reply = await devtools!.send<{ result: { value?: unknown } }>(
          "Runtime.evaluate",
          { expression, returnByValue: true, awaitPromise: true },
          sessionId,
        );
        return reply.result.value;
      };
      await poll(
        "the page to load",
        // Until the new target has navigated there is no execution context
        // to evaluate in: that is "not loaded yet", not a failure.
        () =>
          evaluate(
            `document.readyState === "complete" && !!document.getElementById("file")`,
          ).catch((error: Error) => {
            if (/execution context/.test(error.message)) return false;
            throw error;
          }),
        (ready) => ready === true,
      );
      const state = () =>
        evaluate(`document.getElementById("results").dataset.state`);
      assertEquals(await state(), "idle");

      // The server's own answer for the same bytes.
      const res = await fetch(`${server.url}/v1/predict?top_k=5`, {
        method: "POST",
        headers: { "content-type": "image/png" },
        body: png,
      });
      const expected = await res.json() as PredictResponse;
      const expectedRows = expected.top.map((c) => [
        c.label,
        `${(c.probability * 100).toFixed(1)}%`,
      ]);
      const renderedRows = () =>
        evaluate(`[...document.querySelectorAll("#results .row")].map((row) =>
          [row.querySelector(".label").textContent, row.querySelector(".pct").textContent])`);

      // Pick the file through the real file input.
      const { root: documentRoot } = await devtools.send<
        { root: { nodeId: number } }
      >(
        "DOM.getDocument",
        {},
        sessionId,
      );
      const { nodeId } = await devtools.send<{ nodeId: number }>(
        "DOM.querySelector",
        { nodeId: documentRoot.nodeId, selector: "#file" },
        sessionId,
      );
      await devtools.send("DOM.setFileInputFiles", {
        nodeId,
        files: [imagePath],
      }, sessionId);
      assertEquals(
        await poll(
          "the prediction to render",
          state,
          (s) => s === "done" || s === "error",
        ),
        "done",
        String(
          await evaluate(`document.getElementById("results").textContent`),
        ),
      );
      assertEquals(await renderedRows(), expectedRows);
      const bars = await evaluate(
        `[...document.querySelectorAll("#results .bar")].map((bar) => bar.style.width)`,
      ) as string[];
      assertEquals(bars.length, expected.top.length);
      assertEquals(
        bars[0],
        `${(expected.top[0].probability * 100).toFixed(1)}%`,
      );
      const heads = String(
        await evaluate(`document.querySelector("#results .heads").textContent`),
      );
      assert(heads.includes(`class → ${expected.heads[0].label}`), heads);

      // Drop the same picture on the drop zone.
      await evaluate(
        `document.getElementById("results").dataset.state = "idle"`,
      );
      const bytes = JSON.stringify(Array.from(png));
      await evaluate(`(() => {
        const file = new File([new Uint8Array(${bytes})], "dropped.png", { type: "image/png" });
        const data = new DataTransfer();
        data.items.add(file);
        document.getElementById("drop").dispatchEvent(
          new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
      })()`);
      assertEquals(
        await poll(
          "the dropped prediction",
          state,
          (s) => s === "done" || s === "error",
        ),
        "done",
      );
      assertEquals(await renderedRows(), expectedRows);

      // A file that is not an image shows the server's error.
      await evaluate(`(() => {
        const file = new File(["hello"], "notes.png", { type: "image/png" });
        const data = new DataTransfer();
        data.items.add(file);
        document.getElementById("drop").dispatchEvent(
          new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
      })()`);
      assertEquals(
        await poll("the error", state, (s) => s === "error"),
        "error",
      );
      const message = String(
        await evaluate(`document.querySelector("#results .error").textContent`),
      );
      assert(message.includes("not a PNG or JPEG"), message);
    } finally {
      if (devtools) {
        await devtools.send("Browser.close").catch(() => {});
        await devtools.close();
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const exited = await Promise.race([
        browser.status.then(() => true),
        new Promise<boolean>((resolve) =>
          timer = setTimeout(() => resolve(false), 5000)
        ),
      ]);
      clearTimeout(timer);
      if (!exited) {
        browser.kill("SIGKILL");
        await browser.status;
      }
      await server.shutdown();
      runner.dispose();
      await Deno.remove(root, { recursive: true });
    }
  },
});
