import { HttpError } from "./errors.ts";
import type { ModelInfo, ModelInput } from "./runner.ts";

/** Name of the model's one input tensor in the Open Inference Protocol. */
export const INPUT_NAME = "image";
/** Names of the output tensors, in the order they are returned. */
export const OUTPUT_NAMES = ["probabilities", "label"] as const;
/** An output tensor name. */
export type OutputName = typeof OUTPUT_NAMES[number];

/** A tensor's name, datatype and shape, as in model metadata. */
export interface MetadataTensor {
  /** Tensor name. */
  name: string;
  /** Element type: `UINT8`, `FP32`, `BYTES`. */
  datatype: string;
  /** Shape; -1 for a variable dimension. */
  shape: number[];
}

/** `GET /v2/models/{name}` response. */
export interface ModelMetadataResponse {
  /** Model name. */
  name: string;
  /** Versions that may be requested explicitly. */
  versions: string[];
  /** Framework of the model. */
  platform: string;
  /** Inputs the model takes. */
  inputs: MetadataTensor[];
  /** Outputs the model gives. */
  outputs: MetadataTensor[];
}

/** One output tensor of an inference response. */
export interface ResponseOutput {
  /** Tensor name. */
  name: string;
  /** Shape. */
  shape: number[];
  /** `FP32` or `BYTES`. */
  datatype: "FP32" | "BYTES";
  /** Row-major flat contents (absent when sent as binary data). */
  data?: number[] | string[];
  /** `binary_data_size` when the tensor follows the JSON as binary data. */
  parameters?: { binary_data_size: number };
}

/** The largest finite float32 value; FP32 inputs beyond it are refused. */
export const FLOAT32_MAX = 3.4028234663852886e38;

/** The header naming the JSON part's length in the binary tensor data extension. */
export const INFERENCE_HEADER = "inference-header-content-length";

/** `POST /v2/models/{name}/infer` response. */
export interface InferenceResponse {
  /** Model that answered. */
  model_name: string;
  /** Its version. */
  model_version: string;
  /** The request's `id`, when it gave one. */
  id?: string;
  /** Requested outputs. */
  outputs: ResponseOutput[];
}

/** A validated inference request. */
export interface ParsedInferenceRequest {
  /** Request id to echo. */
  id?: string;
  /** The input batch. */
  input: ModelInput;
  /** Outputs to return, in request order (all when the request names none). */
  outputs: OutputName[];
  /** The outputs to send as binary data (the binary tensor data extension). */
  binaryOutputs: Set<OutputName>;
}

/** Model metadata in the Open Inference Protocol's shape. */
export function modelMetadata(info: ModelInfo): ModelMetadataResponse {
  const { height, width, channels } = info.input;
  return {
    name: info.name,
    versions: [info.version],
    platform: "tfjs_layers",
    inputs: [{
      name: INPUT_NAME,
      datatype: "UINT8",
      shape: [-1, height, width, channels],
    }],
    outputs: [
      {
        name: "probabilities",
        datatype: "FP32",
        shape: [-1, info.classNames.length],
      },
      { name: "label", datatype: "BYTES", shape: [-1] },
    ],
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Validates an inference request body against the model: one input named
 * `image`, datatype `UINT8` (pixels 0..255) or `FP32` (already normalised,
 * finite and within float32 range), shape `[N, H, W, C]` matching the model,
 * `data` flat or nested to that shape, or, with the binary tensor data
 * extension, `parameters.binary_data_size` bytes of `binary` (the bytes after
 * the JSON: UINT8 one byte a value, FP32 four, little-endian).
 *
 * @throws {HttpError} 400 naming the field that is wrong, expected vs actual
 */
export function parseInferenceRequest(
  body: unknown,
  info: ModelInfo,
  maxImages: number,
  binary?: Uint8Array,
): ParsedInferenceRequest {
  if (!isRecord(body)) {
    throw new HttpError(
      400,
      "request body must be a JSON object with 'inputs'",
    );
  }
  let id: string | undefined;
  if (body.id !== undefined) {
    if (typeof body.id !== "string") {
      throw new HttpError(400, `'id' must be a string, got ${typeof body.id}`);
    }
    id = body.id;
  }
  if (!Array.isArray(body.inputs) || body.inputs.length === 0) {
    throw new HttpError(400, "'inputs' must be a non-empty array of tensors");
  }
  if (body.inputs.length !== 1) {
    throw new HttpError(
      400,
      `'inputs' has ${body.inputs.length} tensors; model '${info.name}' takes 1 ('${INPUT_NAME}')`,
    );
  }
  const tensor = body.inputs[0];
  if (!isRecord(tensor)) {
    throw new HttpError(400, "inputs[0] must be an object");
  }
  if (tensor.name !== INPUT_NAME) {
    throw new HttpError(
      400,
      `unknown input ${
        JSON.stringify(tensor.name)
      }: model '${info.name}' has one input named '${INPUT_NAME}'`,
    );
  }
  const { height, width, channels } = info.input;
  const expectedShape = `[N, ${height}, ${width}, ${channels}]`;
  const shape = tensor.shape;
  if (
    !Array.isArray(shape) ||
    !shape.every((d) => Number.isInteger(d) && d >= 0)
  ) {
    throw new HttpError(
      400,
      `input '${INPUT_NAME}': 'shape' must be an array of non-negative integers, expected ${expectedShape}`,
    );
  }
  if (
    shape.length !== 4 || shape[1] !== height || shape[2] !== width ||
    shape[3] !== channels
  ) {
    throw new HttpError(
      400,
      `input '${INPUT_NAME}': shape [${
        shape.join(", ")
      }] does not match the model's ${expectedShape}`,
    );
  }
  const count = shape[0] as number;
  if (count < 1 || count > maxImages) {
    throw new HttpError(
      400,
      `input '${INPUT_NAME}': batch size ${count} must be between 1 and ${maxImages} (--max-images)`,
    );
  }
  const datatype = tensor.datatype;
  if (datatype !== "UINT8" && datatype !== "FP32") {
    throw new HttpError(
      400,
      `input '${INPUT_NAME}': datatype ${
        JSON.stringify(datatype)
      } is not supported; expected "UINT8" (pixels) or "FP32" (normalised)`,
    );
  }
  const size = count * height * width * channels;
  const values = datatype === "UINT8"
    ? new Uint8Array(size)
    : new Float32Array(size);
  const binarySize = isRecord(tensor.parameters)
    ? tensor.parameters.binary_data_size
    : undefined;
  if (binarySize !== undefined) {
    fillBinaryData(binarySize, tensor.data, binary, datatype, values);
  } else {
    if (binary && binary.length > 0) {
      throw new HttpError(
        400,
        `${binary.length} bytes of binary data follow the JSON, but input '${INPUT_NAME}' has no 'parameters.binary_data_size'`,
      );
    }
    fillTensorData(tensor.data, shape as number[], datatype, values);
  }
  const { names, binary: binaryOutputs } = parseRequestedOutputs(
    body.outputs,
    isRecord(body.parameters) && body.parameters.binary_data_output === true,
  );
  const input: ModelInput = datatype === "UINT8"
    ? { dtype: "uint8", data: values as Uint8Array, count }
    : { dtype: "float32", data: values as Float32Array, count };
  return { id, input, outputs: names, binaryOutputs };
}

function fillBinaryData(
  size: unknown,
  data: unknown,
  binary: Uint8Array | undefined,
  datatype: "UINT8" | "FP32",
  out: Uint8Array | Float32Array,
): void {
  const where = `input '${INPUT_NAME}'`;
  const expected = out.length * (datatype === "UINT8" ? 1 : 4);
  if (!binary) {
    throw new HttpError(
      400,
      `${where}: 'parameters.binary_data_size' needs the binary tensor data extension: send the JSON length in the Inference-Header-Content-Length header and the data after the JSON`,
    );
  }
  if (data !== undefined) {
    throw new HttpError(
      400,
      `${where}: give either 'data' or 'parameters.binary_data_size', not both`,
    );
  }
  if (size !== expected) {
    throw new HttpError(
      400,
      `${where}: binary_data_size is ${
        JSON.stringify(size)
      }; ${out.length} ${datatype} values take ${expected} bytes`,
    );
  }
  if (binary.length !== expected) {
    throw new HttpError(
      400,
      `${where}: ${binary.length} bytes of binary data follow the JSON, binary_data_size says ${expected}`,
    );
  }
  if (datatype === "UINT8") {
    out.set(binary);
    return;
  }
  const view = new DataView(binary.buffer, binary.byteOffset, binary.length);
  for (let i = 0; i < out.length; i++) {
    const value = view.getFloat32(i * 4, true);
    if (!Number.isFinite(value)) {
      throw new HttpError(
        400,
        `${where}: binary value ${i} is ${value}; expected a finite number`,
      );
    }
    out[i] = value;
  }
}

function fillTensorData(
  data: unknown,
  shape: number[],
  datatype: "UINT8" | "FP32",
  out: Uint8Array | Float32Array,
): void {
  const where = `input '${INPUT_NAME}'`;
  if (!Array.isArray(data)) {
    throw new HttpError(
      400,
      `${where}: 'data' must be an array (flat or nested)`,
    );
  }
  let written = 0;
  const put = (value: unknown, index: string): void => {
    if (typeof value !== "number" || !Number.isFinite(value)) {
      throw new HttpError(
        400,
        `${where}: data${index} is ${
          JSON.stringify(value)
        }; expected a finite number`,
      );
    }
    if (datatype === "FP32" && Math.abs(value) > FLOAT32_MAX) {
      // Beyond float32 the model would see Infinity and answer nulls.
      throw new HttpError(
        400,
        `${where}: data${index} is ${value}, outside the float32 range (|x| <= ${FLOAT32_MAX})`,
      );
    }
    if (
      datatype === "UINT8" &&
      (!Number.isInteger(value) || value < 0 || value > 255)
    ) {
      throw new HttpError(
        400,
        `${where}: data${index} is ${value}; UINT8 values must be integers 0..255`,
      );
    }
    if (written >= out.length) {
      throw new HttpError(
        400,
        `${where}: 'data' has more than the ${out.length} values shape [${
          shape.join(", ")
        }] holds`,
      );
    }
    out[written++] = value;
  };
  if (data.length > 0 && Array.isArray(data[0])) {
    // Nested: every level must have exactly the length its dimension says.
    const walk = (node: unknown, depth: number, index: string): void => {
      if (depth === shape.length) {
        put(node, index);
        return;
      }
      if (!Array.isArray(node) || node.length !== shape[depth]) {
        throw new HttpError(
          400,
          `${where}: nested data${index} has ${
            Array.isArray(node) ? `length ${node.length}` : "no array"
          }, shape [${shape.join(", ")}] expects ${
            shape[depth]
          } at depth ${depth}`,
        );
      }
      for (let i = 0; i < node.length; i++) {
        walk(node[i], depth + 1, `${index}[${i}]`);
      }
    };
    walk(data, 0, "");
  } else {
    if (data.length !== out.length) {
      throw new HttpError(
        400,
        `${where}: 'data' has ${data.length} values, shape [${
          shape.join(", ")
        }] needs ${out.length}`,
      );
    }
    for (let i = 0; i < data.length; i++) put(data[i], `[${i}]`);
  }
}

function parseRequestedOutputs(
  outputs: unknown,
  allBinary: boolean,
): { names: OutputName[]; binary: Set<OutputName> } {
  const binary = new Set<OutputName>();
  if (outputs === undefined) {
    if (allBinary) OUTPUT_NAMES.forEach((n) => binary.add(n));
    return { names: [...OUTPUT_NAMES], binary };
  }
  if (!Array.isArray(outputs) || outputs.length === 0) {
    throw new HttpError(
      400,
      "'outputs' must be a non-empty array of {\"name\": ...} when given",
    );
  }
  const names: OutputName[] = [];
  for (const [i, output] of outputs.entries()) {
    const name = isRecord(output) ? output.name : undefined;
    if (!OUTPUT_NAMES.includes(name as OutputName)) {
      throw new HttpError(
        400,
        `unknown output ${
          JSON.stringify(name)
        } at outputs[${i}]; the model gives ${
          OUTPUT_NAMES.map((n) => `'${n}'`).join(" and ")
        }`,
      );
    }
    if (!names.includes(name as OutputName)) names.push(name as OutputName);
    const wanted = isRecord(output) && isRecord(output.parameters)
      ? output.parameters.binary_data
      : undefined;
    if (wanted !== undefined && typeof wanted !== "boolean") {
      throw new HttpError(
        400,
        `outputs[${i}].parameters.binary_data must be true or false`,
      );
    }
    if (wanted ?? allBinary) binary.add(name as OutputName);
  }
  return { names, binary };
}
