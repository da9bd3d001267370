import { assert, assertEquals, assertThrows } from "@std/assert";
import { chooseView } from "./views.ts";

Deno.test("chooseView is a pure function of (seed, epoch, image) in [0, views)", () => {
  const counts = new Array(4).fill(0);
  for (let i = 0; i < 4000; i++) {
    const v = chooseView(7, 3, i, 4);
    assertEquals(v, chooseView(7, 3, i, 4));
    counts[v]++;
  }
  // roughly uniform
  for (const c of counts) assert(c > 850 && c < 1150, `counts ${counts}`);
  // different epochs and seeds pick different views
  let sameEpoch = 0, sameSeed = 0;
  for (let i = 0; i < 1000; i++) {
    if (chooseView(7, 3, i, 4) === chooseView(7, 4, i, 4)) sameEpoch++;
    if (chooseView(7, 3, i, 4) === chooseView(8, 3, i, 4)) sameSeed++;
  }
  assert(sameEpoch < 400 && sameSeed < 400, `${sameEpoch} ${sameSeed}`);
  assertEquals(chooseView(1, 2, 3, 1), 0);
  assertThrows(() => chooseView(1, 2, 3, 0), Error, "views");
  assertThrows(() => chooseView(1, -1, 3, 2), Error, "epoch");
});
