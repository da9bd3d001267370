import { assert, assertEquals } from "@std/assert";
import {
  formatDuration,
  formatRate,
  ProgressBar,
  type ProgressSink,
} from "./progress.ts";

function memorySink(isTerminal: boolean): ProgressSink & { text: string } {
  const sink = {
    text: "",
    isTerminal,
    columns: 120,
    write(t: string) {
      sink.text += t;
    },
  };
  return sink;
}

Deno.test("formatDuration and formatRate", () => {
  assertEquals(formatDuration(42.4), "42s");
  assertEquals(formatDuration(185), "3m05s");
  assertEquals(formatDuration(3720), "1h02m");
  assertEquals(formatDuration(NaN), "--");
  assertEquals(formatRate(1234.5, "img"), "1235 img/s");
  assertEquals(formatRate(12.34, "img"), "12.3 img/s");
  assertEquals(formatRate(0.456), "0.46/s");
});

Deno.test("plain mode prints throttled lines with rate and ETA", () => {
  let now = 0;
  const sink = memorySink(false);
  const bar = new ProgressBar({
    label: "epoch 1/2",
    total: 100,
    unit: "img",
    sink,
    now: () => now,
    plainIntervalMs: 5000,
  });
  now = 1000;
  bar.update(10);
  now = 2000;
  bar.update(20); // throttled: within 5 s of the last line
  now = 10000;
  bar.update(50, "loss 0.50");
  now = 20000;
  bar.finish();
  const lines = sink.text.trimEnd().split("\n");
  assertEquals(lines.length, 3);
  assertEquals(lines[0], "epoch 1/2 10%  10/100  10.0 img/s  1s eta 9s");
  assertEquals(
    lines[1],
    "epoch 1/2 50%  50/100  5.00 img/s  10s eta 10s  loss 0.50",
  );
  assert(lines[2].startsWith("epoch 1/2 50%"), lines[2]);
  assert(!sink.text.includes("\r"), "no carriage returns off a terminal");
});

Deno.test("terminal mode redraws one line and ends it", () => {
  let now = 0;
  const sink = memorySink(true);
  const bar = new ProgressBar({ label: "x", total: 4, sink, now: () => now });
  for (let i = 1; i <= 4; i++) {
    now += 1000;
    bar.update(i);
  }
  bar.finish();
  assert(sink.text.includes("\r\x1b[2K"));
  assert(sink.text.includes("[##############################] 100%"));
  assert(sink.text.endsWith("\n"));
  assertEquals(sink.text.split("\n").length, 2);
});
