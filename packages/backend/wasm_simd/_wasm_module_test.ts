import { assertEquals } from "@std/assert";
import { FunctionBody, I32, instantiateOn, V128 } from "./_wasm_module.ts";

function instantiate(functions: Record<string, FunctionBody>) {
  const memory = new WebAssembly.Memory({ initial: 1 });
  const exports = instantiateOn<(...args: number[]) => void>(memory, functions);
  return { memory, exports };
}

Deno.test("wasm module writer: constants of every LEB128 length, loops, ifs and offsets", () => {
  const constants = [
    0,
    1,
    63,
    64,
    -64,
    -65,
    127,
    128,
    8191,
    8192,
    -8193,
    2 ** 31 - 1,
    -(2 ** 31),
  ];
  const f = new FunctionBody(2);
  // each constant stored at argument 0 + 4·i (offsets as immediates)
  constants.forEach((value, i) => f.get(0).i32(value).i32Store(4 * i));
  // sum of 0..argument 1 - 1 into slot 100 with a loop
  const sum = f.local(I32), index = f.local(I32);
  f.i32(0).set(sum);
  f.loop(index, 0, { local: 1 }, 1, () => {
    f.get(sum).get(index).add().set(sum);
  });
  f.get(0).get(sum).i32Store(400);
  // if / else on argument 1 < 5
  f.get(1).i32(5).ltU().if(
    () => f.get(0).i32(1).i32Store(404),
    () => f.get(0).i32(2).i32Store(404),
  );
  const { memory, exports } = instantiate({ run: f });
  exports.run(64, 10);
  const words = new Int32Array(memory.buffer, 64);
  assertEquals(Array.from(words.slice(0, constants.length)), constants);
  assertEquals(words[100], 45);
  assertEquals(words[101], 2);
  exports.run(64, 3);
  assertEquals(words[100], 3);
  assertEquals(words[101], 1);
});

Deno.test("wasm module writer: f32x4 loads, splats, products, sums and lanes", () => {
  const f = new FunctionBody(1);
  const a = f.local(V128), b = f.local(V128);
  f.get(0).v128Load(0).set(a);
  f.get(0).loadSplat(16).set(b);
  // (a · splat(x[4]) + a) stored at 32; lane 3 of it + lane 0 at 48
  f.get(a).get(b).vMul().get(a).vAdd().set(a);
  f.get(0).get(a).v128Store(32);
  f.get(0).get(a).lane(3).get(a).lane(0).f32Add().f32Store(48);
  f.get(0).zeros().v128Store(64);
  f.get(0).f32Zero().f32Store(80);
  const { memory, exports } = instantiate({ run: f });
  const floats = new Float32Array(memory.buffer);
  floats.set([1, 2, 3, 4, 10], 0);
  floats.fill(9, 16, 21);
  exports.run(0);
  assertEquals(Array.from(floats.slice(8, 12)), [11, 22, 33, 44]);
  assertEquals(floats[12], 55);
  assertEquals(Array.from(floats.slice(16, 21)), [0, 0, 0, 0, 0]);
});

Deno.test("wasm module writer: f64x2 from float pairs and back, splats of doubles, arithmetic in double", () => {
  const load = (f: FunctionBody, a: number, b: number) => {
    // a = floats 0..1 as doubles; b = the double at byte 16
    f.get(0).load64Zero(0).promoteLow().set(a);
    f.get(0).load64Splat(16).set(b);
  };
  const f = new FunctionBody(1);
  const [a, b] = [f.local(V128), f.local(V128)];
  load(f, a, b);
  // sqrt((a + b) · b / b - b + b) stored as two floats at byte 32
  f.get(0).get(a).get(b).dAdd().get(b).dMul().get(b).dDiv().get(b).dSub()
    .get(b).dAdd().dSqrt().demoteZero().store64Low(32);
  // ((a + b) - a) / b: b is lost in float32 sums, kept in double ones
  const g = new FunctionBody(1);
  const [c, d] = [g.local(V128), g.local(V128)];
  load(g, c, d);
  g.get(0).get(c).get(d).dAdd().get(c).dSub().get(d).dDiv().demoteZero()
    .store64Low(32);
  // argument 1 (unsigned) as a double in both halves, over the double at
  // byte 16
  const h = new FunctionBody(2);
  h.get(0).get(1).f64FromU32().dSplat().get(0).load64Splat(16).dDiv()
    .demoteZero().store64Low(32);
  const { memory, exports } = instantiate({ run: f, precise: g, ratio: h });
  const floats = new Float32Array(memory.buffer);
  const double = new Float64Array(memory.buffer, 16, 1);
  floats.set([7, 16], 0);
  double[0] = 9;
  floats.fill(-1, 8, 11);
  exports.run(0);
  assertEquals(Array.from(floats.slice(8, 11)), [4, 5, -1]);
  floats.set([1, 3], 0);
  double[0] = 2 ** -30;
  exports.precise(0);
  assertEquals(Array.from(floats.slice(8, 11)), [1, 1, -1]);
  floats.fill(-1, 8, 11);
  double[0] = 1e9;
  exports.ratio(0, 3_000_000_000);
  assertEquals(Array.from(floats.slice(8, 11)), [3, 3, -1]);
});
