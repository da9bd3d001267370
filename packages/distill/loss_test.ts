import * as tf from "@tensorflow/tfjs";
import { assert, assertAlmostEquals, assertThrows } from "@std/assert";
import { initBackend } from "@vitkd/backend";
import {
  crossEntropy,
  ensembleDistillation,
  hardDistillation,
  objective,
  softDistillation,
} from "./loss.ts";

await initBackend({ backend: "cpu" });

type Matrix = number[][];

function logSoftmaxRef(row: number[], tau = 1): number[] {
  const scaled = row.map((v) => v / tau);
  const max = Math.max(...scaled);
  const lse = max + Math.log(scaled.reduce((s, v) => s + Math.exp(v - max), 0));
  return scaled.map((v) => v - lse);
}

function ceRef(logits: Matrix, labels: number[], smoothing = 0): number {
  let total = 0;
  logits.forEach((row, b) => {
    const logp = logSoftmaxRef(row);
    const c = row.length;
    for (let k = 0; k < c; k++) {
      const q = (k === labels[b] ? 1 - smoothing : 0) + smoothing / c;
      total -= q * logp[k];
    }
  });
  return total / logits.length;
}

function klRef(
  student: Matrix,
  teacherLogProbs: Matrix,
  tau: number,
  deit = false,
): number {
  let total = 0;
  student.forEach((row, b) => {
    const logps = logSoftmaxRef(row, tau);
    teacherLogProbs[b].forEach((lpt, k) => {
      total += Math.exp(lpt) * (lpt - logps[k]);
    });
  });
  const divisor = deit ? student.length * student[0].length : student.length;
  return (tau * tau * total) / divisor;
}

function softRef(s: Matrix, t: Matrix, tau: number, deit = false): number {
  return klRef(s, t.map((row) => logSoftmaxRef(row, tau)), tau, deit);
}

function ensembleRef(s: Matrix, teachers: Matrix[], tau: number): number {
  // log of the mean probability, by log-sum-exp so that it cannot underflow
  const mean = s.map((_, b) =>
    s[b].map((_, k) => {
      const logs = teachers.map((t) => logSoftmaxRef(t[b], tau)[k]);
      const max = Math.max(...logs);
      return max +
        Math.log(logs.reduce((acc, l) => acc + Math.exp(l - max), 0)) -
        Math.log(teachers.length);
    })
  );
  return klRef(s, mean, tau);
}

const argmax = (row: number[]): number => row.indexOf(Math.max(...row));

const S: Matrix = [[1.5, -0.3, 0.2, 2.0], [0.1, 0.4, -1.2, 0.3], [
  -0.5,
  2.2,
  0.9,
  -1.0,
]];
const T1: Matrix = [[0.3, 1.1, -0.4, 2.5], [1.7, -0.2, 0.0, 0.6], [
  0.2,
  0.1,
  3.0,
  -0.7,
]];
const T2: Matrix = [[-1.0, 0.5, 0.8, 0.1], [0.0, 2.1, -0.3, 0.4], [
  1.4,
  -0.6,
  0.2,
  0.9,
]];
const Y = [3, 0, 2];

function value(t: tf.Scalar): number {
  const v = t.dataSync()[0];
  t.dispose();
  return v;
}

function numericGrad(f: (m: Matrix) => number, m: Matrix, h = 1e-5): Matrix {
  return m.map((row, i) =>
    row.map((_, j) => {
      const plus = m.map((r) => [...r]);
      const minus = m.map((r) => [...r]);
      plus[i][j] += h;
      minus[i][j] -= h;
      return (f(plus) - f(minus)) / (2 * h);
    })
  );
}

function assertMatrixClose(
  actual: Matrix,
  expected: Matrix,
  tolerance: number,
): void {
  expected.forEach((row, i) =>
    row.forEach((v, j) => assertAlmostEquals(actual[i][j], v, tolerance))
  );
}

Deno.test("crossEntropy equals -log p(y) worked by hand", () => {
  // logits [0, ln 3]: p = [1/4, 3/4]; labels 1 and 0 -> (-ln .75 - ln .25)/2
  const logits = tf.tensor2d([[0, Math.log(3)], [0, Math.log(3)]]);
  const labels = tf.tensor1d([1, 0], "int32");
  const expected = (-Math.log(0.75) - Math.log(0.25)) / 2;
  assertAlmostEquals(value(crossEntropy(logits, labels)), expected, 1e-6);
  tf.dispose([logits, labels]);
});

Deno.test("crossEntropy with label smoothing matches the loop reference, gradient too", () => {
  const logits = tf.tensor2d(S);
  const labels = tf.tensor1d(Y, "int32");
  for (const smoothing of [0, 0.1, 0.5]) {
    assertAlmostEquals(
      value(crossEntropy(logits, labels, { labelSmoothing: smoothing })),
      ceRef(S, Y, smoothing),
      1e-5,
    );
    const grad = tf.grad((x: tf.Tensor) =>
      crossEntropy(x as tf.Tensor2D, labels, { labelSmoothing: smoothing })
    )(logits);
    assertMatrixClose(
      grad.arraySync() as Matrix,
      numericGrad((m) => ceRef(m, Y, smoothing), S),
      1e-5,
    );
    grad.dispose();
  }
  assertThrows(
    () => crossEntropy(logits, labels, { labelSmoothing: 1 }),
    Error,
    "labelSmoothing",
  );
  tf.dispose([logits, labels]);
});

Deno.test("softDistillation matches tau^2 KL, batchmean and DeiT's per-element variant", () => {
  const s = tf.tensor2d(S);
  const t = tf.tensor2d(T1);
  for (const tau of [1, 2, 4]) {
    assertAlmostEquals(
      value(softDistillation(s, t, { tau })),
      softRef(S, T1, tau),
      1e-5,
    );
    assertAlmostEquals(
      value(softDistillation(s, t, { tau, reduction: "deit" })),
      softRef(S, T1, tau, true),
      1e-6,
    );
  }
  // identical distributions: zero divergence
  assertAlmostEquals(value(softDistillation(s, s)), 0, 1e-6);
  tf.dispose([s, t]);
});

Deno.test("softDistillation gradient is tau/B (softmax(s/tau) - softmax(t/tau)) and none reaches the teacher", () => {
  const s = tf.tensor2d(S);
  const t = tf.tensor2d(T1);
  const tau = 2;
  const [gs, gt] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
    softDistillation(a as tf.Tensor2D, b as tf.Tensor2D, { tau })
  )([s, t]);
  const analytic = S.map((row, b) => {
    const ps = logSoftmaxRef(row, tau).map(Math.exp);
    const pt = logSoftmaxRef(T1[b], tau).map(Math.exp);
    return ps.map((p, k) => (tau / S.length) * (p - pt[k]));
  });
  assertMatrixClose(gs.arraySync() as Matrix, analytic, 1e-6);
  assertMatrixClose(
    gs.arraySync() as Matrix,
    numericGrad((m) => softRef(m, T1, tau), S),
    1e-5,
  );
  assertMatrixClose(gt.arraySync() as Matrix, T1.map((r) => r.map(() => 0)), 0);
  tf.dispose([s, t, gs, gt]);
});

Deno.test("hardDistillation is cross-entropy against the teacher's argmax", () => {
  const s = tf.tensor2d(S);
  const t = tf.tensor2d(T1);
  assertAlmostEquals(
    value(hardDistillation(s, t)),
    ceRef(S, T1.map(argmax)),
    1e-6,
  );
  tf.dispose([s, t]);
});

Deno.test("ensembleDistillation targets the mean of the teachers' probabilities", () => {
  const s = tf.tensor2d(S);
  const t1 = tf.tensor2d(T1);
  const t2 = tf.tensor2d(T2);
  for (const tau of [1, 3]) {
    assertAlmostEquals(
      value(ensembleDistillation(s, [t1, t2], { tau })),
      ensembleRef(S, [T1, T2], tau),
      1e-5,
    );
  }
  // one teacher: the ensemble is that teacher
  assertAlmostEquals(
    value(ensembleDistillation(s, [t1])),
    value(softDistillation(s, t1)),
    1e-6,
  );
  const grad = tf.grad((x: tf.Tensor) =>
    ensembleDistillation(x as tf.Tensor2D, [t1, t2], { tau: 2 })
  )(s);
  assertMatrixClose(
    grad.arraySync() as Matrix,
    numericGrad((m) => ensembleRef(m, [T1, T2], 2), S),
    1e-5,
  );
  tf.dispose([s, t1, t2, grad]);
});

Deno.test("objective: l0 CE + sum l_i D(s_i, t_i) for multi, hard and ensemble, with gradients", () => {
  const cls = [[0.2, 0.1, -0.4, 1.0], [1.1, 0.0, 0.3, -0.2], [
    0.5,
    0.5,
    -0.5,
    0.1,
  ]];
  const heads = [cls, S, T2.map((r) => r.map((v) => v * 0.5))];
  const config = {
    tau: 2,
    classWeight: 0.7,
    distillWeights: [0.2, 0.5],
    labelSmoothing: 0.1,
  };
  const reference = (kind: string, h: Matrix[]): number => {
    let total = config.classWeight * ceRef(h[0], Y, 0.1);
    if (kind === "multi") {
      total += 0.2 * softRef(h[1], T1, 2) + 0.5 * softRef(h[2], T2, 2);
    } else if (kind === "hard") {
      total += 0.2 * ceRef(h[1], T1.map(argmax)) +
        0.5 * ceRef(h[2], T2.map(argmax));
    } else if (kind === "ensemble") {
      total += 0.2 * ensembleRef(h[1], [T1, T2], 2);
    }
    return total;
  };
  const labels = tf.tensor1d(Y, "int32");
  const teachers = [tf.tensor2d(T1), tf.tensor2d(T2)];
  for (const kind of ["multi", "hard", "ensemble", "none"] as const) {
    const used = kind === "ensemble"
      ? heads.slice(0, 2)
      : kind === "none"
      ? heads.slice(0, 1)
      : heads;
    const tensors = used.map((h) => tf.tensor2d(h));
    const loss = objective(tensors, labels, teachers, { ...config, kind });
    assertAlmostEquals(value(loss), reference(kind, used), 1e-5);
    const grads = tf.grads((...xs: tf.Tensor[]) =>
      objective(xs as tf.Tensor2D[], labels, teachers, { ...config, kind })
    )(tensors);
    used.forEach((_, i) => {
      const numeric = numericGrad((m) => {
        const copy = [...used];
        copy[i] = m;
        return reference(kind, copy);
      }, used[i]);
      assertMatrixClose(grads[i].arraySync() as Matrix, numeric, 1e-5);
    });
    tf.dispose([...tensors, ...grads]);
  }
  // `none` ignores teachers and distillation heads
  const all = heads.map((h) => tf.tensor2d(h));
  assertAlmostEquals(
    value(objective(all, labels, [], { ...config, kind: "none" })),
    reference("none", heads),
    1e-5,
  );
  tf.dispose([labels, ...teachers, ...all]);
});

Deno.test("objective rejects a head count that does not fit the loss and the teachers", () => {
  const labels = tf.tensor1d(Y, "int32");
  const heads = [tf.tensor2d(S), tf.tensor2d(S)];
  const teachers = [tf.tensor2d(T1), tf.tensor2d(T2)];
  assertThrows(
    () => objective(heads, labels, teachers, { kind: "multi" }),
    Error,
    "expects 3 model heads",
  );
  assertThrows(
    () => objective(heads, labels, [], { kind: "multi" }),
    Error,
    "needs teacher logits",
  );
  assertThrows(
    () => objective(heads, labels, teachers, { kind: "soft" as "multi" }),
    Error,
    'unknown loss kind "soft"',
  );
  const narrow = tf.tensor2d([[1, 2, 3], [1, 2, 3], [1, 2, 3]]);
  assertThrows(
    () => softDistillation(heads[0], narrow),
    Error,
    "differ in shape",
  );
  assertThrows(
    () => softDistillation(heads[0], teachers[0], { tau: 0 }),
    Error,
    "tau",
  );
  tf.dispose([labels, narrow, ...heads, ...teachers]);
});

Deno.test("losses and gradients stay finite and exact for logits of magnitude 1e4", () => {
  const big: Matrix = [[1e4, -1e4, 5e3, 0], [-2e4, 1.5e4, 1e4, -3e3]];
  const teacher: Matrix = [[-1e4, 2e4, 0, 1e4], [1e4, 1e4, -1e4, 9e3]];
  const y = [1, 2];
  const s = tf.tensor2d(big);
  const t = tf.tensor2d(teacher);
  const t2 = tf.tensor2d(teacher.map((r) => r.map((v) => -v)));
  const labels = tf.tensor1d(y, "int32");
  const checks: [string, (x: tf.Tensor2D) => tf.Scalar, number][] = [
    ["ce", (x) => crossEntropy(x, labels), ceRef(big, y)],
    ["soft", (x) => softDistillation(x, t), softRef(big, teacher, 1)],
    [
      "deit",
      (x) => softDistillation(x, t, { reduction: "deit" }),
      softRef(
        big,
        teacher,
        1,
        true,
      ),
    ],
    ["hard", (x) => hardDistillation(x, t), ceRef(big, teacher.map(argmax))],
    [
      "ensemble",
      (x) => ensembleDistillation(x, [t, t2]),
      ensembleRef(big, [
        teacher,
        teacher.map((r) => r.map((v) => -v)),
      ], 1),
    ],
  ];
  for (const [name, f, expected] of checks) {
    const v = value(f(s));
    assert(Number.isFinite(v), `${name}: loss ${v}`);
    assertAlmostEquals(v, expected, Math.abs(expected) * 1e-5 + 1e-3, name);
    const g = tf.grad((x: tf.Tensor) => f(x as tf.Tensor2D))(s);
    const values = g.dataSync();
    assert(values.every(Number.isFinite), `${name}: gradient ${values}`);
    g.dispose();
  }
  tf.dispose([s, t, t2, labels]);
});
