// The convolutions both native conv paths are checked on against the cpu
// backend (native_test.ts for sgemm over taps, dnnl_test.ts for oneDNN):
// stride 1 to 3, same / valid / explicit padding, 1x1 to 5x5 and
// non-square filters, few and many channels, dilation.

/** One convolution the parity tests run: shapes, stride, padding, dilation. */
export interface ConvCase {
  x: number[];
  filter: number[];
  strides: number;
  pad: "same" | "valid" | number;
  dilation?: number;
}

/** Convolutions covering the native paths' geometry cases. */
export const CONV_CASES: ConvCase[] = [
  { x: [2, 8, 8, 9], filter: [3, 3, 9, 4], strides: 1, pad: "same" },
  { x: [2, 8, 8, 3], filter: [3, 3, 3, 4], strides: 1, pad: "same" },
  { x: [2, 8, 8, 3], filter: [3, 3, 3, 4], strides: 2, pad: "same" },
  { x: [1, 9, 7, 2], filter: [3, 3, 2, 5], strides: 2, pad: "same" },
  { x: [1, 9, 7, 2], filter: [3, 3, 2, 5], strides: 2, pad: "valid" },
  { x: [2, 7, 9, 4], filter: [1, 1, 4, 3], strides: 1, pad: "valid" },
  { x: [2, 8, 8, 4], filter: [1, 1, 4, 6], strides: 2, pad: "same" },
  { x: [1, 10, 10, 2], filter: [5, 5, 2, 3], strides: 3, pad: 1 },
  { x: [1, 6, 6, 2], filter: [4, 2, 2, 3], strides: 1, pad: "same" },
  {
    x: [1, 9, 9, 2],
    filter: [3, 3, 2, 2],
    strides: 1,
    pad: "same",
    dilation: 2,
  },
];
