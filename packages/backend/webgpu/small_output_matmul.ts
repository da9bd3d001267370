// tfjs-webgpu's BatchMatMul, except that a product with a small output and a
// long inner dimension runs as one reduction dispatch. Such products are the
// weight gradients of 1x1 convolutions written as matmuls (the involution's
// kernel generator: [4096..65536, C]ᵀ · [.., C'] with C·C' ≤ 1,024); for
// outputs over 128 values tfjs splits K instead, which needs a zero fill of
// the output first (its split-K program adds atomically): two dispatches.
// The reduction program gives each output value a workgroup of 256 threads
// that share the inner dimension, enough workgroups for these products
// without the fill.
import * as tf from "@tensorflow/tfjs";

// tfjs-webgpu's MatMulProgramType.MatMulReduceProgram.
const MATMUL_REDUCE_PROGRAM = 0;
const FLAG = "WEBGPU_MATMUL_PROGRAM_TYPE";

/** Outputs up to this many values reduce in one dispatch. */
export const SMALL_OUTPUT = 1024;
/** Inner dimensions from which tfjs splits K (its own threshold). */
const LONG_INNER = 2000;

/**
 * Whether a product of `a` and `b` (as `BatchMatMul` gets them) has a small
 * output and a long inner dimension, and so runs as one reduction.
 */
export function reducesInOneDispatch(
  a: readonly number[],
  b: readonly number[],
  transposeA: boolean,
  transposeB: boolean,
): boolean {
  const batch = Math.max(
    a.slice(0, -2).reduce((p, d) => p * d, 1),
    b.slice(0, -2).reduce((p, d) => p * d, 1),
  );
  const inner = transposeA ? a[a.length - 2] : a[a.length - 1];
  const rows = transposeA ? a[a.length - 1] : a[a.length - 2];
  const columns = transposeB ? b[b.length - 2] : b[b.length - 1];
  return batch === 1 && inner >= LONG_INNER && rows * columns <= SMALL_OUTPUT;
}

/** The stock `BatchMatMul` with {@linkcode reducesInOneDispatch} products as one reduction. */
export function smallOutputMatMulConfig(
  stock: tf.KernelConfig,
): tf.KernelConfig {
  return {
    ...stock,
    kernelFunc: (args) => {
      const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      const { transposeA, transposeB } = args.attrs as unknown as {
        transposeA: boolean;
        transposeB: boolean;
      };
      // the stock kernel reads its program choice from this flag (-1:
      // its own choice; a program set by the user stays)
      const env = tf.env();
      const before = env.get(FLAG);
      if (
        before !== -1 ||
        !reducesInOneDispatch(a.shape, b.shape, transposeA, transposeB)
      ) {
        return stock.kernelFunc(args);
      }
      env.set(FLAG, MATMUL_REDUCE_PROGRAM);
      try {
        return stock.kernelFunc(args);
      } finally {
        env.set(FLAG, before);
      }
    },
  };
}
