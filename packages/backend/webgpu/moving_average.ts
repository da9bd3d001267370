import { activeWebGpu } from "./_backend.ts";
import { storageBuffersPerStage } from "./device.ts";
import { encodeDispatch, pipelineFor, uniformBuffer } from "./raw_dispatch.ts";
import type { TensorInfo } from "../tf_types.ts";

const WORKGROUP = 64;

// target <- target - (target - value) · factor, the operations of the
// composed update in the same order. Pair k is workgroup row y = k.
function shader(pairs: number): string {
  const decls: string[] = [];
  const cases: string[] = [];
  for (let k = 0; k < pairs; k++) {
    decls.push(
      `@group(0) @binding(${
        2 * k
      }) var<storage, read_write> t${k}: array<f32>;`,
      `@group(0) @binding(${2 * k + 1}) var<storage, read> v${k}: array<f32>;`,
    );
    cases.push(`if (k == ${k}u) {
    for (var i = id.x; i < n; i = i + stride) {
      t${k}[i] = t${k}[i] - (t${k}[i] - v${k}[i]) * info.factor;
    }
  }`);
  }
  return `
struct Info { factor: f32, pad0: u32, pad1: u32, pad2: u32, counts: array<vec4<u32>, ${
    Math.ceil(pairs / 4)
  }> }
${decls.join("\n")}
@group(0) @binding(${2 * pairs}) var<uniform> info: Info;
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) id: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
  let k = id.y;
  let n = info.counts[k / 4u][k % 4u];
  let stride = groups.x * ${WORKGROUP}u;
  ${cases.join(" else ")}
}`;
}

/**
 * Moving averages updated in place on WebGPU, `target <- target - (target -
 * value) · factor` for each pair (batch norm's moving statistics, factor =
 * 1 - momentum), in one dispatch for as many pairs as the device binds (the
 * composed update takes three per pair). Cached CPU copies of the targets
 * are dropped.
 *
 * @param targets float32 tensors updated in place; no other live tensor
 * may share their buffers.
 * @param values float32 tensors of the targets' sizes.
 * @param factor The weight of the new values.
 */
export function movingAveragesInPlace(
  targets: readonly TensorInfo[],
  values: readonly TensorInfo[],
  factor: number,
): void {
  const backend = activeWebGpu("movingAveragesInPlace");
  if (targets.length !== values.length) {
    throw new Error(
      `movingAveragesInPlace: ${targets.length} targets for ${values.length} values`,
    );
  }
  const sizes = targets.map((t, k) => {
    const size = t.shape.reduce((a, b) => a * b, 1);
    const other = values[k].shape.reduce((a, b) => a * b, 1);
    if (
      size !== other || t.dtype !== "float32" || values[k].dtype !== "float32"
    ) {
      throw new Error(
        `movingAveragesInPlace: pair ${k} needs float32 tensors of one size, got ${t.dtype} [${t.shape}] and ${
          values[k].dtype
        } [${values[k].shape}]`,
      );
    }
    return size;
  });
  const per = Math.max(
    1,
    Math.floor((storageBuffersPerStage(backend.device)) / 2),
  );
  for (let start = 0; start < targets.length; start += per) {
    const end = Math.min(targets.length, start + per);
    const pairs = end - start;
    const words = new ArrayBuffer(16 + 16 * Math.ceil(pairs / 4));
    new Float32Array(words, 0, 1)[0] = factor;
    const counts = new Uint32Array(words, 16);
    for (let k = 0; k < pairs; k++) counts[k] = sizes[start + k];
    const largest = Math.max(1, ...sizes.slice(start, end));
    encodeDispatch(
      backend,
      "VitkdMovingAverages",
      pipelineFor(backend.device, `vitkd-moving-${pairs}`, shader(pairs)),
      Array.from(
        { length: pairs },
        (_, k) => [targets[start + k], values[start + k]],
      ).flat(),
      [uniformBuffer(backend, words)],
      [Math.min(1024, Math.ceil(largest / WORKGROUP)), pairs],
    );
    for (let k = start; k < end; k++) {
      backend.tensorMap.get(targets[k].dataId).values = null;
    }
  }
}
