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
  /** Row-major flat contents. */
  data: number[] | string[];
}

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
 * `image`, datatype `UINT8` (pixels 0..255) or `FP32` (already normalised),
 * shape `[N, H, W, C]` matching the model, `data` flat or nested to that shape.
 *
 * @throws {HttpError} 400 naming the field that is wrong, expected vs actual
 */
export function parseInferenceRequest(
  body: unknown,
  info: ModelInfo,
  maxImages: number,
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
  if (isRecord(tensor.parameters) && "binary_data_size" in tensor.parameters) {
    throw new HttpError(
      400,
      `input '${INPUT_NAME}': the binary tensor data extension is not supported; send 'data' as JSON`,
    );
  }
  const size = count * height * width * channels;
  const values = datatype === "UINT8"
    ? new Uint8Array(size)
    : new Float32Array(size);
  fillTensorData(tensor.data, shape as number[], datatype, values);
  const outputs = parseRequestedOutputs(body.outputs);
  const input: ModelInput = datatype === "UINT8"
    ? { dtype: "uint8", data: values as Uint8Array, count }
    : { dtype: "float32", data: values as Float32Array, count };
  return { id, input, outputs };
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

function parseRequestedOutputs(outputs: unknown): OutputName[] {
  if (outputs === undefined) return [...OUTPUT_NAMES];
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
  }
  return names;
}
