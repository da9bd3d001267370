import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "@std/assert";
import { seeded } from "../wasm_kernels/_test_util.ts";
import {
  buildInvolutionSimd,
  involutionSimd,
  type InvolutionSimdGeometry,
  setWasmSimd,
  simdCovers,
} from "./involution_simd.ts";
import {
  involutionForwardLoop,
  involutionGatherLoop,
  involutionKernelGradLoop,
  involutionScatterLoop,
} from "../native/involution_loops.ts";

// A heap of its own: tensors at float offsets past a margin, since a tap's
// base address may lie up to `reach` bytes before a tensor.
function heapWith(
  memory: WebAssembly.Memory,
  reach: number,
  sizes: number[],
): number[] {
  let at = Math.ceil(reach / 4) + 16;
  const offsets = sizes.map((size) => {
    const here = at;
    at += size + 16;
    return here;
  });
  const bytes = at * 4;
  if (memory.buffer.byteLength < bytes) {
    memory.grow(Math.ceil((bytes - memory.buffer.byteLength) / 65536));
  }
  return offsets;
}

function assertClose(
  label: string,
  got: Float32Array,
  want: Float32Array,
): void {
  assertEquals(got.length, want.length, label);
  for (let i = 0; i < got.length; i++) {
    // float32 sums of up to 25 products against float64 ones
    const tolerance = 1e-5 + 2e-6 * Math.abs(want[i]);
    if (!(Math.abs(got[i] - want[i]) <= tolerance)) {
      throw new Error(`${label}: element ${i} is ${got[i]}, want ${want[i]}`);
    }
  }
}

const CASES: [number, InvolutionSimdGeometry][] = [
  [2, { h: 6, w: 6, c: 8, groups: 2, k: 3, s: 1 }],
  [2, { h: 7, w: 5, c: 8, groups: 2, k: 3, s: 2 }],
  [3, { h: 5, w: 7, c: 16, groups: 2, k: 5, s: 1 }],
  [1, { h: 9, w: 8, c: 32, groups: 2, k: 3, s: 3 }],
  [2, { h: 4, w: 4, c: 64, groups: 1, k: 3, s: 1 }],
  [1, { h: 1, w: 1, c: 4, groups: 1, k: 3, s: 1 }],
];

Deno.test("SIMD involution kernels = the heap loops (float32 sums), every tap border and stride", () => {
  for (const [n, geo] of CASES) {
    const { h, w, c, groups, k, s } = geo;
    const [oh, ow] = [Math.ceil(h / s), Math.ceil(w / s)];
    const sizes = [
      n * h * w * c,
      n * oh * ow * k * k * groups,
      n * oh * ow * c,
    ];
    const memory = new WebAssembly.Memory({ initial: 1 });
    const simd = buildInvolutionSimd(geo, memory);
    const [xAt, kAt, dyAt, outAt, wantAt] = heapWith(memory, simd.reach, [
      sizes[0],
      sizes[1],
      sizes[2],
      Math.max(...sizes),
      Math.max(...sizes),
    ]);
    const heap = new Float32Array(memory.buffer);
    heap.set(seeded([sizes[0]], 1).values, xAt);
    heap.set(seeded([sizes[1]], 2).values, kAt);
    heap.set(seeded([sizes[2]], 3).values, dyAt);
    const args = [h, w, c, groups, k, s];
    const label = `n=${n} ${JSON.stringify(geo)}`;
    const check = (
      name: string,
      size: number,
      simdRun: () => void,
      loopRun: () => void,
    ) => {
      // NaN first: every element must be written
      heap.fill(NaN, outAt, outAt + size);
      simdRun();
      loopRun();
      assertClose(
        `${label} ${name}`,
        heap.slice(outAt, outAt + size),
        heap.slice(wantAt, wantAt + size),
      );
    };
    check(
      "forward",
      sizes[2],
      () => simd.forward(xAt * 4, kAt * 4, outAt * 4, 0, n),
      () => involutionForwardLoop(heap, [xAt, kAt, wantAt, ...args], 0, n),
    );
    check(
      "kernel gradient",
      sizes[1],
      () => simd.kernelGrad(dyAt * 4, xAt * 4, outAt * 4, 0, n),
      () => involutionKernelGradLoop(heap, [dyAt, xAt, wantAt, ...args], 0, n),
    );
    check(
      "input gradient",
      sizes[0],
      () => simd.gather(dyAt * 4, kAt * 4, outAt * 4, 0, n),
      () =>
        (s === 1 ? involutionGatherLoop : involutionScatterLoop)(
          heap,
          [dyAt, kAt, wantAt, ...args],
          0,
          n,
        ),
    );
  }
});

Deno.test("SIMD involution kernels run an image range only", () => {
  const geo = { h: 4, w: 4, c: 8, groups: 2, k: 3, s: 1 };
  const memory = new WebAssembly.Memory({ initial: 1 });
  const simd = buildInvolutionSimd(geo, memory);
  const [xAt, kAt, yAt] = heapWith(memory, simd.reach, [
    3 * 128,
    3 * 288,
    3 * 128,
  ]);
  const heap = new Float32Array(memory.buffer);
  heap.set(seeded([3 * 128], 4).values, xAt);
  heap.set(seeded([3 * 288], 5).values, kAt);
  heap.fill(7, yAt, yAt + 3 * 128);
  simd.forward(xAt * 4, kAt * 4, yAt * 4, 1, 2);
  // image 0 and 2 untouched, image 1 written
  assert(heap.slice(yAt, yAt + 128).every((v) => v === 7));
  assert(heap.slice(yAt + 256, yAt + 384).every((v) => v === 7));
  assert(heap.slice(yAt + 128, yAt + 256).some((v) => v !== 7));
});

Deno.test("SIMD involution: which geometries it covers, and off when asked", () => {
  const base = { h: 4, w: 4, c: 16, groups: 4, k: 3, s: 1 };
  assert(simdCovers(base));
  // 6 channels per group: not whole vectors; 128: too many registers
  assert(!simdCovers({ ...base, c: 12, groups: 2 }));
  assert(!simdCovers({ ...base, c: 128, groups: 1 }));
  assert(!simdCovers({ ...base, k: 4 }));
  const memory = new WebAssembly.Memory({ initial: 1 });
  assert(involutionSimd(memory, base) !== undefined);
  assertEquals(involutionSimd(memory, base), involutionSimd(memory, base));
  assertEquals(
    involutionSimd(memory, { ...base, c: 12, groups: 2 }),
    undefined,
  );
  assertEquals(involutionSimd(undefined, base), undefined);
  setWasmSimd(false);
  try {
    assertEquals(involutionSimd(memory, base), undefined);
  } finally {
    setWasmSimd(true);
  }
});

Deno.test("fused involution on wasm takes the SIMD kernels and matches them off", async () => {
  await tf.setBackend("wasm");
  const x = tf.tensor4d(seeded([2, 8, 8, 16], 8).values, [2, 8, 8, 16]);
  const kernels = tf.tensor4d(seeded([2, 8, 8, 18], 9).values, [2, 8, 8, 18]);
  const { fusedInvolution } = await import("../cnn_kernels/ops.ts");
  const { registerCnnKernels } = await import("../cnn_kernels/register.ts");
  registerCnnKernels();
  const run = async () => {
    const f = (a: tf.Tensor, b: tf.Tensor) =>
      fusedInvolution(a as tf.Tensor4D, b as tf.Tensor4D, {
        kernelSize: 3,
        strides: 1,
        groupChannels: 8,
      });
    const outs = [
      f(x, kernels),
      ...tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(f(a, b))))(
        [x, kernels],
      ),
    ];
    const values = await Promise.all(outs.map((t) => t.data()));
    tf.dispose(outs);
    return values as Float32Array[];
  };
  const simd = await run();
  setWasmSimd(false);
  let loops;
  try {
    loops = await run();
  } finally {
    setWasmSimd(true);
  }
  simd.forEach((values, i) => {
    assertClose(`output ${i}`, values, loops[i]);
    // a different path: float32 sums differ from the loops' somewhere
    if (i === 0) assert(values.some((v, j) => v !== loops[i][j]));
  });
  tf.dispose([x, kernels]);
});
