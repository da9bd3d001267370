// Test support for main_test.ts: `deno task serve` in a process of its own
// whose model calls wait until a line arrives on stdin, so a test can hold a
// request in flight for as long as it needs (no timing). Announces each
// waiting call on stderr as "model call waiting".
import { main } from "./main.ts";

const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream())
  .getReader();
let buffered = "";
async function nextLine(): Promise<void> {
  while (!buffered.includes("\n")) {
    const { value, done } = await lines.read();
    if (done) return;
    buffered += value;
  }
  buffered = buffered.slice(buffered.indexOf("\n") + 1);
}

Deno.exit(
  await main(Deno.args, {
    batching: {
      beforeRun: async () => {
        console.error("model call waiting");
        await nextLine();
      },
    },
  }),
);
