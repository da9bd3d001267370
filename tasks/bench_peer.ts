/**
 * Side-by-side CPU speed against PyTorch: runs `tasks/bench_models.ts` on
 * wasm (our kernels, OpenBLAS, oneDNN, the helper thread) and
 * `docs/measurements/torch_bench.py` (PyTorch, the same architectures)
 * one model at a time, back to back, the order flipping every round, and
 * prints each model's train and inference ratios with the load average
 * taken before each run. A figure taken with a
 * load average of 0.5 or more is marked: load slows PyTorch's OpenMP threads
 * more than ours, and such ratios have flattered us by up to 2x.
 *
 * PyTorch runs with glibc's malloc told to keep freed memory (the MALLOC_*
 * variables below), as PyTorch's CPU tuning advice asks of its allocator:
 * with glibc's defaults, each ResNet-8 training step handed its buffers
 * back to the kernel and faulted them in again, 10,000 page faults a step on
 * the development VM, which cut PyTorch's training to a third.
 *
 *   deno task bench:peer [--rounds 2] [--seconds 4] [--threads 2] [--settle 240]
 *     [--python /usr/bin/python3] [--torch-malloc keep|default]
 */
import { parseTaskArgs } from "./_cli.ts";
import { cpuModel } from "./_machine.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const MODELS = ["vit-small", "resnet8", "rednet8"];
const QUIET_LOAD = 0.5;
// glibc: never trim the heap's top, serve every size from the heap (no
// mmap/munmap per tensor), and grow it 100 MB at a time.
const KEEP_MALLOC = {
  MALLOC_TRIM_THRESHOLD_: "1000000000",
  MALLOC_MMAP_THRESHOLD_: "1000000000",
  MALLOC_TOP_PAD_: "100000000",
};

const { args, fail } = parseTaskArgs({
  command: "deno task bench:peer",
  summary:
    "vitkd (wasm) against PyTorch on this CPU, alternating, with the load average.",
  flags: {
    rounds: { arg: "N", default: "2", help: "alternations of the two" },
    seconds: { arg: "S", default: "4", help: "seconds per measurement" },
    threads: {
      arg: "N",
      default: "2",
      help: "PyTorch threads (default 2, this machine's cores)",
    },
    settle: {
      arg: "S",
      default: "240",
      help: `before each measurement, wait up to S seconds for the 1-minute
load average to fall below 0.5 (the previous run raises it); 0: no wait`,
    },
    python: {
      arg: "PATH",
      help: `a python3 that imports torch (default: the first of
/usr/bin/python3 and python3 that does;
Debian: apt-get install python3-torch)`,
    },
    "torch-malloc": {
      arg: "MODE",
      default: "keep",
      help: `keep: PyTorch runs with glibc's malloc keeping freed memory
(MALLOC_TRIM_THRESHOLD_, MALLOC_MMAP_THRESHOLD_, MALLOC_TOP_PAD_);
default: glibc's own settings, which refault PyTorch's buffers every step`,
    },
  },
});
const rounds = Number(args.rounds);
const seconds = Number(args.seconds);
const threads = Number(args.threads);
const torchMalloc = args["torch-malloc"];
if (torchMalloc !== "keep" && torchMalloc !== "default") {
  fail(`--torch-malloc is keep or default, got "${torchMalloc}"`);
}
const torchEnv: Record<string, string> = torchMalloc === "keep"
  ? KEEP_MALLOC
  : {};
if (
  !Number.isInteger(rounds) || rounds < 1 || !(seconds > 0) ||
  !Number.isInteger(threads) || threads < 1
) {
  fail(
    `--rounds and --threads must be whole numbers >= 1 and --seconds > 0, got ${args.rounds}, ${args.threads} and ${args.seconds}`,
  );
}

async function run(
  cmd: string,
  cmdArgs: string[],
  env: Record<string, string> = {},
) {
  const out = await new Deno.Command(cmd, {
    args: cmdArgs,
    cwd: ROOT,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    ok: out.success,
    text: new TextDecoder().decode(out.stdout),
    error: new TextDecoder().decode(out.stderr),
  };
}

async function findPython(): Promise<string | undefined> {
  const candidates = args.python
    ? [args.python]
    : ["/usr/bin/python3", "python3"];
  for (const python of candidates) {
    try {
      if ((await run(python, ["-c", "import torch"])).ok) return python;
    } catch { /* not installed */ }
  }
  return undefined;
}

const python = await findPython();
if (!python) {
  console.error(
    "bench:peer: no python3 here imports torch; install PyTorch (Debian: apt-get install python3-torch) or pass --python",
  );
  Deno.exit(2);
}

interface Figures {
  train: number;
  infer: number;
}

/** `| model | wasm | params | MFLOPs | train | epoch min | infer | latency |` rows. */
function parseOurs(text: string): Map<string, Figures> {
  const figures = new Map<string, Figures>();
  for (const line of text.split("\n")) {
    const cells = line.split("|").map((c) => c.trim());
    if (cells.length < 9 || !MODELS.includes(cells[1]) || cells[2] !== "wasm") {
      continue;
    }
    const number = (s: string) => Number(s.replaceAll(",", ""));
    figures.set(cells[1], { train: number(cells[5]), infer: number(cells[7]) });
  }
  return figures;
}

/** `name: train X img/s, infer Y img/s` lines. */
function parseTorch(text: string): Map<string, Figures> {
  const figures = new Map<string, Figures>();
  for (
    const m of text.matchAll(
      /^(\S+): train ([\d.]+) img\/s, infer ([\d.]+) img\/s/gm,
    )
  ) {
    figures.set(m[1], { train: Number(m[2]), infer: Number(m[3]) });
  }
  return figures;
}

const load = () => Deno.loadavg()[0];
const settleSeconds = Number(args.settle);
if (!(settleSeconds >= 0)) {
  fail(`--settle: expected seconds >= 0, got "${args.settle}"`);
}

/**
 * Waits until the 1-minute load average is below 0.5 or `settleSeconds`
 * have passed, and returns the load then: a benchmark that just ran keeps
 * it above 0.5 for about a minute and a half.
 */
async function settledLoad(): Promise<number> {
  const until = performance.now() + settleSeconds * 1000;
  while (load() >= 0.5 && performance.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 5000));
  }
  return load();
}
const torchVersion =
  (await run(python, ["-c", "import torch; print(torch.__version__)"])).text
    .trim();
console.log(
  `machine: ${cpuModel()}, ${navigator.hardwareConcurrency} logical CPUs; deno ${Deno.version.deno}; PyTorch ${torchVersion} with ${threads} threads, glibc malloc ${
    torchMalloc === "keep" ? "keeping freed memory" : "as configured"
  }; ${new Date().toISOString()}`,
);

interface Sample {
  round: number;
  ours: Map<string, Figures>;
  oursLoad: number;
  theirs: Map<string, Figures>;
  theirsLoad: number;
}

async function measureOurs(model: string): Promise<Map<string, Figures>> {
  const ours = await run(Deno.execPath(), [
    "run",
    "-A",
    "tasks/bench_models.ts",
    "--backend",
    "wasm",
    "--models",
    model,
    "--no-involution",
    "--seconds",
    String(seconds),
  ]);
  if (!ours.ok) {
    console.error(`bench:peer: bench_models failed:\n${ours.error}`);
    Deno.exit(1);
  }
  return parseOurs(ours.text);
}

async function measureTheirs(model: string): Promise<Map<string, Figures>> {
  const theirs = await run(python!, [
    "docs/measurements/torch_bench.py",
    String(threads),
    String(seconds),
    model,
  ], torchEnv);
  if (!theirs.ok) {
    console.error(`bench:peer: torch_bench.py failed:\n${theirs.error}`);
    Deno.exit(1);
  }
  return parseTorch(theirs.text);
}

// Each model's two figures are taken back to back, and the order flips
// every round (vitkd first in odd rounds, PyTorch first in even ones): this
// VM's speed drifts by up to 1.4x over minutes, and a pair taken minutes
// apart, or always in the same order, measured the drift as much as the
// two programs.
const samples: Sample[] = [];
for (let round = 1; round <= rounds; round++) {
  const sample: Sample = {
    round,
    ours: new Map(),
    oursLoad: 0,
    theirs: new Map(),
    theirsLoad: 0,
  };
  for (const model of MODELS) {
    const oursFirst = round % 2 === 1;
    for (const side of oursFirst ? ["ours", "theirs"] : ["theirs", "ours"]) {
      const before = await settledLoad();
      if (side === "ours") {
        sample.oursLoad = Math.max(sample.oursLoad, before);
        for (const [k, v] of await measureOurs(model)) sample.ours.set(k, v);
      } else {
        sample.theirsLoad = Math.max(sample.theirsLoad, before);
        for (const [k, v] of await measureTheirs(model)) {
          sample.theirs.set(k, v);
        }
      }
    }
  }
  samples.push(sample);
  console.log(
    `round ${round} (${
      round % 2 === 1 ? "vitkd" : "PyTorch"
    } first for each model): highest load ${
      sample.oursLoad.toFixed(2)
    } before vitkd, ${sample.theirsLoad.toFixed(2)} before PyTorch`,
  );
}

const fmt = (n: number) =>
  n.toLocaleString("en-US", { maximumFractionDigits: 0 });
const range = (xs: number[], digits = 2) => {
  const lo = Math.min(...xs), hi = Math.max(...xs);
  return lo === hi
    ? lo.toFixed(digits)
    : `${lo.toFixed(digits)}-${hi.toFixed(digits)}`;
};
const loaded = samples.some((s) =>
  s.oursLoad >= QUIET_LOAD || s.theirsLoad >= QUIET_LOAD
);
console.log(
  "\n| model | vitkd train / infer img/s | PyTorch train / infer img/s | ratio train | ratio infer |",
);
console.log("|---|---|---|---|---|");
for (const model of MODELS) {
  const pairs = samples.map((s) => ({
    ours: s.ours.get(model),
    theirs: s.theirs.get(model),
  }))
    .filter((p) => p.ours && p.theirs) as { ours: Figures; theirs: Figures }[];
  if (pairs.length === 0) {
    console.log(`| ${model} | missing | missing | | |`);
    continue;
  }
  console.log(
    `| ${model} | ${
      pairs.map((p) => `${fmt(p.ours.train)} / ${fmt(p.ours.infer)}`).join("; ")
    } | ${
      pairs.map((p) => `${fmt(p.theirs.train)} / ${fmt(p.theirs.infer)}`).join(
        "; ",
      )
    } | ${range(pairs.map((p) => p.ours.train / p.theirs.train))} | ${
      range(pairs.map((p) => p.ours.infer / p.theirs.infer))
    } |`,
  );
}
console.log(
  loaded
    ? `\nUNDER LOAD: a load average of ${QUIET_LOAD} or more was seen (${
      samples.map((s) => `${s.oursLoad.toFixed(2)}/${s.theirsLoad.toFixed(2)}`)
        .join(", ")
    }); load slows PyTorch more than vitkd, so these ratios flatter vitkd. Measure again on a quiet machine.`
    : `\nquiet: the load average stayed under ${QUIET_LOAD} before every run.`,
);
