import { assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { constantSchedule, cosineSchedule } from "./schedule.ts";

Deno.test("cosine schedule: linear warmup, peak, half-way, floor", () => {
  const lr = cosineSchedule({
    baseLearningRate: 1e-3,
    totalSteps: 110,
    warmupSteps: 10,
    minLearningRate: 1e-5,
  });
  assertAlmostEquals(lr(0), 1e-4, 1e-12);
  assertAlmostEquals(lr(4), 5e-4, 1e-12);
  assertAlmostEquals(lr(9), 1e-3, 1e-12);
  assertAlmostEquals(lr(10), 1e-3, 1e-12);
  // half-way through the decay: the mean of peak and floor
  assertAlmostEquals(lr(60), (1e-3 + 1e-5) / 2, 1e-12);
  // a quarter: min + (base - min) (1 + cos(pi/4)) / 2
  assertAlmostEquals(
    lr(35),
    1e-5 + (1e-3 - 1e-5) * (1 + Math.SQRT1_2) / 2,
    1e-12,
  );
  assertAlmostEquals(lr(110), 1e-5, 1e-12);
  assertAlmostEquals(lr(500), 1e-5, 1e-12);
  for (let s = 10; s < 110; s++) {
    if (lr(s + 1) > lr(s)) throw new Error(`not decreasing at ${s}`);
  }
});

Deno.test("cosine schedule without warmup starts at the peak; bad options fail", () => {
  const lr = cosineSchedule({ baseLearningRate: 0.1, totalSteps: 4 });
  assertEquals(lr(0), 0.1);
  assertAlmostEquals(lr(2), 0.05, 1e-12);
  assertThrows(
    () => cosineSchedule({ baseLearningRate: 0, totalSteps: 4 }),
    Error,
    "baseLearningRate",
  );
  assertThrows(
    () =>
      cosineSchedule({ baseLearningRate: 1, totalSteps: 4, warmupSteps: 5 }),
    Error,
    "warmupSteps",
  );
  assertThrows(
    () => cosineSchedule({ baseLearningRate: 1, totalSteps: 0 }),
    Error,
    "totalSteps",
  );
  assertEquals(constantSchedule(0.5)(123), 0.5);
});
