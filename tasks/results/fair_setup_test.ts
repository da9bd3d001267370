import { assert, assertEquals, assertNotEquals } from "@std/assert";
import {
  ARMS,
  armWeights,
  budgetKey,
  COMPARISONS,
  FAIR_BUDGETS,
  teacherSpecs,
} from "./fair_setup.ts";

Deno.test("every distilling arm carries the same total distillation weight", () => {
  for (const budget of Object.values(FAIR_BUDGETS)) {
    for (const arm of ARMS) {
      const w = armWeights(budget, arm);
      assertEquals(w[0], 1);
      assertEquals(w.length, 1 + arm.teachers.length);
      const total = w.slice(1).reduce((a, b) => a + b, 0);
      assertEquals(total, arm.teachers.length ? budget.distillWeight : 0);
    }
  }
});

Deno.test("arms name known teachers and comparisons name known arms", () => {
  const ids = teacherSpecs(FAIR_BUDGETS.cpu).map((t) => t.id);
  for (const arm of ARMS) {
    for (const t of arm.teachers) assert(ids.includes(t), t);
  }
  for (const c of COMPARISONS) {
    assert(ARMS.some((a) => a.id === c.a) && ARMS.some((a) => a.id === c.b));
  }
});

Deno.test("the budget key follows what results depend on, not seeds or notes", () => {
  const cpu = FAIR_BUDGETS.cpu;
  const key = budgetKey(cpu);
  assertEquals(budgetKey({ ...cpu, seeds: [7], needs: "other" }), key);
  assertNotEquals(budgetKey({ ...cpu, epochs: cpu.epochs + 1 }), key);
  assertNotEquals(
    budgetKey({ ...cpu, student: { ...cpu.student, dim: 8 } }),
    key,
  );
  assertEquals(key.length, 8);
});
