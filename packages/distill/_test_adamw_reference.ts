// The plain-loop AdamW the optimizer's tests check it against (cpu and wasm).

/**
 * Plain-loop AdamW in float64: `p` after one step per entry of `grads`, at
 * the learning rates `lrs`, each gradient first multiplied by `scale`; the
 * decay applies when `decay` is true.
 */
export function adamwReference(
  p: number[],
  grads: number[][],
  lrs: number[],
  decay: boolean,
  o = { b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0.05 },
  scale = 1,
): number[] {
  const w = [...p];
  const m = w.map(() => 0);
  const v = w.map(() => 0);
  grads.forEach((raw, step) => {
    const t = step + 1;
    for (let i = 0; i < w.length; i++) {
      const g = raw[i] * scale;
      m[i] = o.b1 * m[i] + (1 - o.b1) * g;
      v[i] = o.b2 * v[i] + (1 - o.b2) * g * g;
      const mh = m[i] / (1 - o.b1 ** t);
      const vh = v[i] / (1 - o.b2 ** t);
      const update = mh / (Math.sqrt(vh) + o.eps) + (decay ? o.wd * w[i] : 0);
      w[i] -= lrs[step] * update;
    }
  });
  return w;
}
