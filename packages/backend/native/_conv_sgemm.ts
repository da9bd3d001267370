// The sgemm calls of the native conv kernels, grouped so that a group's
// output block stays in the L2 cache and the groups can be shared between
// the two threads. Private to the native conv kernels.
import type { SgemmCall } from "./sgemm_call.ts";
import type { ConvPlan } from "./_conv_plan.ts";
import type { TapMatrix } from "./_conv_taps.ts";

// Output rows per block: a block of C and the input rows the taps read for
// it stay in the L2 cache while all taps add into it; blocks are also what
// the two threads share.
const BLOCK_BYTES = 1 << 19;

function rowBlock(c: number, outC: number): number {
  return Math.max(256, Math.floor(BLOCK_BYTES / (4 * (c + outC))));
}

interface ForwardBuffers {
  /** Byte offset of the (padded or phase) input. */
  input: number;
  /** Floats from one virtual output row's input pixel to the next. */
  inputRowFloats: number;
  /** Byte offset of the filter. */
  filter: number;
  /** Byte offset of the `[rows, outC]` output grid. */
  output: number;
  /** Beta of the first tap (1 when the grid holds the bias). */
  beta: number;
}

/**
 * The forward convolution's sgemms, one group per block of output rows, each
 * with every tap in order (the first initialises the block).
 */
export function forwardGroups(
  plan: ConvPlan,
  tapList: readonly TapMatrix[],
  rows: number,
  at: ForwardBuffers,
): SgemmCall[][] {
  const block = rowBlock(plan.c, plan.outC);
  const groups: SgemmCall[][] = [];
  for (let start = 0; start < rows; start += block) {
    const group: SgemmCall[] = [];
    tapList.forEach((tap, index) => {
      const count = Math.min(start + block, tap.rows) - start;
      if (count <= 0) return;
      group.push({
        transA: false,
        transB: false,
        m: count,
        n: plan.outC,
        k: plan.c,
        alpha: 1,
        a: at.input + tap.inputBytes + start * at.inputRowFloats * 4,
        lda: at.inputRowFloats,
        b: at.filter + tap.filterBytes,
        ldb: plan.outC,
        beta: index === 0 ? at.beta : 1,
        c: at.output + start * plan.outC * 4,
        ldc: plan.outC,
      });
    });
    groups.push(group);
  }
  return groups;
}

interface FilterGradientBuffers {
  /** Byte offset of the (padded or phase) input. */
  input: number;
  /** Floats from one virtual output row's input pixel to the next. */
  inputRowFloats: number;
  /** Byte offset of dy on the virtual grid. */
  gradient: number;
  /** Byte offset of the `[kh, kw, c, outC]` filter gradient. */
  output: number;
}

/** The filter gradient's sgemms: one independent group per tap. */
export function filterGradientGroups(
  plan: ConvPlan,
  tapList: readonly TapMatrix[],
  at: FilterGradientBuffers,
): SgemmCall[][] {
  return tapList.map((tap) => [{
    transA: true,
    transB: false,
    m: plan.c,
    n: plan.outC,
    k: tap.rows,
    alpha: 1,
    a: at.input + tap.inputBytes,
    lda: at.inputRowFloats,
    b: at.gradient,
    ldb: plan.outC,
    beta: 0,
    c: at.output + tap.filterBytes,
    ldc: plan.outC,
  }]);
}

interface InputGradientBuffers {
  /** Byte offset of dy on the virtual grid. */
  gradient: number;
  /** Byte offset of the filter. */
  filter: number;
  /** Byte offset of the zeroed (padded or phase) input gradient. */
  output: number;
  /** Pixels between the input-gradient pixels of consecutive grid rows. */
  step: number;
}

/**
 * The input gradient's sgemms. Taps add into overlapping pixels, so the
 * groups split the input-gradient pixels (`pixels` of them) into blocks:
 * each group has, for every tap, the grid rows whose pixel lies in its block.
 */
export function inputGradientGroups(
  plan: ConvPlan,
  tapList: readonly TapMatrix[],
  pixels: number,
  at: InputGradientBuffers,
): SgemmCall[][] {
  const block = rowBlock(plan.c, plan.outC);
  const groups: SgemmCall[][] = [];
  for (let from = 0; from < pixels; from += block) {
    const to = Math.min(pixels, from + block);
    const group: SgemmCall[] = [];
    for (const tap of tapList) {
      const first = tap.inputBytes / (4 * plan.c);
      const start = Math.max(0, Math.ceil((from - first) / at.step));
      const end = Math.min(tap.rows, Math.ceil((to - first) / at.step));
      if (end <= start) continue;
      group.push({
        transA: false,
        transB: true,
        m: end - start,
        n: plan.c,
        k: plan.outC,
        alpha: 1,
        a: at.gradient + start * plan.outC * 4,
        lda: plan.outC,
        b: at.filter + tap.filterBytes,
        ldb: plan.outC,
        beta: 1,
        c: at.output + tap.inputBytes + start * at.step * plan.c * 4,
        ldc: at.step * plan.c,
      });
    }
    if (group.length > 0) groups.push(group);
  }
  return groups;
}
