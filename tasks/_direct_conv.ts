/**
 * The hand-written direct convolution (docs/measurements/direct_conv.c) as
 * a wasm `Conv2D` kernel, for `deno task bench:conv` to time against oneDNN:
 * compiled here with the system's C compiler, opened through FFI, called on
 * views of the wasm heap like the native kernels. A measuring aid only.
 */
import * as tf from "@tensorflow/tfjs";
import {
  byteOffset,
  heapBuffer,
  heapPointer,
  type WasmBackendLike,
} from "../packages/backend/native/heap.ts";
import { planConv } from "@vitkd/backend/native";

const SOURCE = new URL("../docs/measurements/direct_conv.c", import.meta.url);

const SYMBOLS = {
  direct_conv2d: {
    parameters: [
      "pointer",
      "pointer",
      "pointer",
      ...Array(13).fill("i32"),
    ],
    result: "i32",
  },
} as const;

/** Compiles and opens the comparator; a string says why it is unavailable. */
export async function openDirectConv(
  threads: number,
): Promise<tf.KernelConfig | string> {
  const dir = await Deno.makeTempDir({ prefix: "vitkd-direct-conv-" });
  const library = `${dir}/direct_conv.so`;
  let compiled: Deno.CommandOutput;
  try {
    compiled = await new Deno.Command("cc", {
      args: [
        "-O3",
        "-mavx512f",
        "-mfma",
        "-fopenmp",
        "-shared",
        "-fPIC",
        SOURCE.pathname,
        "-o",
        library,
      ],
      stderr: "piped",
    }).output();
  } catch (error) {
    return `no C compiler: ${(error as Error).message}`;
  }
  if (!compiled.success) {
    return `cc failed: ${new TextDecoder().decode(compiled.stderr).trim()}`;
  }
  const lib = Deno.dlopen(library, SYMBOLS);
  return {
    kernelName: "Conv2D",
    backendName: "wasm",
    kernelFunc: ({ inputs, attrs, backend }) => {
      const { x, filter } = inputs as {
        x: tf.TensorInfo;
        filter: tf.TensorInfo;
      };
      const a = attrs as unknown as tf.Conv2DAttrs;
      const plan = planConv(
        x.shape,
        filter.shape,
        a.strides,
        a.dilations ?? 1,
        a.pad,
        a.dimRoundingMode,
        a.dataFormat,
      );
      if (typeof plan === "string" || plan.dilationH !== 1) {
        throw new Error(
          `direct conv: cannot take [${x.shape}] * [${filter.shape}]`,
        );
      }
      const wasm = backend as unknown as WasmBackendLike;
      const y = wasm.makeOutput(
        [plan.n, plan.outH, plan.outW, plan.outC],
        "float32",
      );
      const base = heapPointer(heapBuffer(wasm))!;
      const at = (t: tf.TensorInfo) =>
        Deno.UnsafePointer.offset(base, byteOffset(wasm, t));
      const status = lib.symbols.direct_conv2d(
        at(x),
        at(filter),
        at(y),
        plan.n,
        plan.h,
        plan.w,
        plan.c,
        plan.outC,
        plan.kh,
        plan.kw,
        plan.stride,
        plan.top,
        plan.left,
        plan.outH,
        plan.outW,
        threads,
      );
      if (status !== 0) {
        wasm.disposeData(y.dataId);
        throw new Error(
          `direct conv: output channels ${plan.outC} are not a multiple of 16`,
        );
      }
      return y;
    },
  };
}
