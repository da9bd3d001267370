/**
 * The AdamW update as WebAssembly SIMD in double precision (f64x2): two
 * values a step, each operation the JavaScript loop's (fused/adamw_kernel.ts)
 * in the same order, so the results are the same to the bit. The loop ran
 * about 10 ns a value; ResNet-8's 78k weights took 0.6-1.0 ms a step.
 *
 * @module
 */
import { FunctionBody, I32, instantiateOn, V128 } from "./_wasm_module.ts";
import { perMemory } from "./_switch.ts";

/**
 * The doubles the kernel reads, in order, from its constants address:
 * gradient scale, beta1, 1 - beta1, beta2, 1 - beta2, the two bias
 * corrections, epsilon, weight decay and learning rate.
 */
export const ADAMW_CONSTANTS = 10;

/**
 * Updates `pairs` pairs of values: parameters, gradients, first and second
 * moments at the first four byte addresses, the new parameters and moments
 * to the next three, constants ({@linkcode ADAMW_CONSTANTS} doubles) at the
 * eighth. `pairs` must be at least 1.
 */
export type AdamWSimdKernel = (
  pAt: number,
  gAt: number,
  mAt: number,
  vAt: number,
  pOut: number,
  mOut: number,
  vOut: number,
  constantsAt: number,
  pairs: number,
) => void;

function adamwKernel(): FunctionBody {
  const f = new FunctionBody(9);
  const [pAt, gAt, mAt, vAt, pOut, mOut, vOut, constantsAt, pairs] = Array
    .from({ length: 9 }, (_, i) => i);
  const [scale, beta1, keep1, beta2, keep2, c1, c2, epsilon, decay, rate] =
    Array.from({ length: ADAMW_CONSTANTS }, (_, k) => {
      const local = f.local(V128);
      f.get(constantsAt).load64Splat(8 * k).set(local);
      return local;
    });
  const [g, m, v, p] = [
    f.local(V128),
    f.local(V128),
    f.local(V128),
    f
      .local(V128),
  ];
  const offset = f.local(I32), end = f.local(I32);
  const pairAt = (base: number) => f.get(base).get(offset).add();
  f.get(pairs).i32(8).mul().set(end);
  f.loop(offset, 0, { local: end }, 8, () => {
    // g = grad · scale
    pairAt(gAt).load64Zero().promoteLow().get(scale).dMul().set(g);
    // m = beta1 · m + (1 - beta1) · g
    pairAt(mAt).load64Zero().promoteLow().get(beta1).dMul()
      .get(keep1).get(g).dMul().dAdd().set(m);
    // v = beta2 · v + (1 - beta2) · g · g
    pairAt(vAt).load64Zero().promoteLow().get(beta2).dMul()
      .get(keep2).get(g).dMul().get(g).dMul().dAdd().set(v);
    pairAt(pAt).load64Zero().promoteLow().set(p);
    pairAt(mOut).get(m).demoteZero().store64Low();
    pairAt(vOut).get(v).demoteZero().store64Low();
    // p - rate · (m / c1 / (sqrt(v / c2) + epsilon) + decay · p)
    pairAt(pOut).get(p).get(rate)
      .get(m).get(c1).dDiv()
      .get(v).get(c2).dDiv().dSqrt().get(epsilon).dAdd().dDiv()
      .get(decay).get(p).dMul().dAdd()
      .dMul().dSub().demoteZero().store64Low();
  });
  return f;
}

/**
 * The AdamW kernel on `memory` (the wasm backend's heap), made on first
 * use; undefined when the SIMD kernels are off or WebAssembly SIMD is
 * unavailable (the caller then runs its loop).
 */
export const adamwSimd: (
  memory: WebAssembly.Memory | undefined,
) => AdamWSimdKernel | undefined = perMemory((memory) =>
  instantiateOn<AdamWSimdKernel>(memory, { adamw: adamwKernel() }).adamw
);
