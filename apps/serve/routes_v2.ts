import { Hono } from "hono";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { argmax, mediaType, type ServeState, tooLarge } from "./context.ts";
import { HttpError } from "./errors.ts";
import {
  INFERENCE_HEADER,
  type InferenceResponse,
  modelMetadata,
  type OutputName,
  parseInferenceRequest,
  type ResponseOutput,
} from "./protocol.ts";

// A server that is shutting down is asked about again after a second.
const NOT_READY_HEADERS = { "retry-after": "1" };

/** Protocol extensions the server speaks, as listed by `GET /v2`. */
export const EXTENSIONS = ["binary_tensor_data"];

const JSON_TYPE = "application/json";
const BINARY_TYPE = "application/octet-stream";

/** The request body split into its JSON and, with the binary extension, the bytes after it. */
async function readInferenceBody(
  c: Context,
): Promise<{ json: unknown; binary?: Uint8Array }> {
  const type = mediaType(c);
  const header = c.req.header(INFERENCE_HEADER);
  const allowed = header === undefined ? [JSON_TYPE] : [JSON_TYPE, BINARY_TYPE];
  if (!allowed.includes(type)) {
    throw new HttpError(
      415,
      `content type "${
        type || "(none)"
      }" is not supported; send the inference request as ${
        allowed.join(" or ")
      }${header === undefined ? "" : " (binary tensor data extension)"}`,
    );
  }
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  let jsonLength = bytes.length;
  if (header !== undefined) {
    jsonLength = Number(header);
    if (
      header.trim() === "" || !Number.isInteger(jsonLength) || jsonLength < 0 ||
      jsonLength > bytes.length
    ) {
      throw new HttpError(
        400,
        `Inference-Header-Content-Length is "${header}"; expected the JSON part's length, 0 to ${bytes.length}`,
      );
    }
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes.subarray(0, jsonLength)));
  } catch (error) {
    throw new HttpError(
      400,
      `malformed JSON in request body: ${(error as Error).message}`,
    );
  }
  return {
    json,
    binary: header === undefined ? undefined : bytes.subarray(jsonLength),
  };
}

/** Output bytes of the binary tensor data extension: FP32 little-endian, BYTES as length-prefixed strings. */
function binaryTensor(
  datatype: "FP32" | "BYTES",
  data: number[] | string[],
): Uint8Array {
  if (datatype === "FP32") {
    const values = Float32Array.from(data as number[]);
    return new Uint8Array(values.buffer);
  }
  const encoder = new TextEncoder();
  const parts = (data as string[]).map((s) => encoder.encode(s));
  const out = new Uint8Array(parts.reduce((n, p) => n + 4 + p.length, 0));
  const view = new DataView(out.buffer);
  let at = 0;
  for (const part of parts) {
    view.setUint32(at, part.length, true);
    out.set(part, at + 4);
    at += 4 + part.length;
  }
  return out;
}

/**
 * The Open Inference Protocol (KServe v2) over HTTP/JSON, mounted at `/v2`:
 * health, server and model metadata, model readiness and inference.
 */
export function inferenceRoutes(state: ServeState): Hono {
  const { info, batcher, limits } = state;
  const app = new Hono();

  app.get("/health/live", (c) => c.json({ live: true }));
  app.get(
    "/health/ready",
    (c) =>
      state.isReady()
        ? c.json({ ready: true })
        : c.json({ ready: false }, 503, NOT_READY_HEADERS),
  );
  app.get(
    "/",
    (c) =>
      c.json({
        name: "vitkd-serve",
        version: "0.1.0",
        extensions: EXTENSIONS,
      }),
  );

  const checkModel = (c: Context): void => {
    const name = c.req.param("name");
    if (name !== info.name) {
      throw new HttpError(
        404,
        `unknown model '${name}': this server serves '${info.name}'`,
      );
    }
    const version = c.req.param("version");
    if (version !== undefined && version !== info.version) {
      throw new HttpError(
        404,
        `unknown version '${version}' of model '${info.name}': it has version '${info.version}'`,
      );
    }
  };

  for (
    const base of ["/models/:name", "/models/:name/versions/:version"]
  ) {
    app.get(base, (c) => {
      checkModel(c);
      return c.json(modelMetadata(info));
    });
    app.get(`${base}/ready`, (c) => {
      checkModel(c);
      return state.isReady()
        ? c.json({ name: info.name, ready: true })
        : c.json({ name: info.name, ready: false }, 503, NOT_READY_HEADERS);
    });
    app.post(
      `${base}/infer`,
      bodyLimit({
        maxSize: limits.maxJsonBytes,
        onError: tooLarge(
          "inference request",
          limits.maxJsonBytes,
          "--max-json-bytes",
        ),
      }),
      async (c) => {
        checkModel(c);
        const { json, binary } = await readInferenceBody(c);
        const request = parseInferenceRequest(
          json,
          info,
          limits.maxImages,
          binary,
        );
        const results = await batcher.submit(request.input);
        const count = results.length;
        const classes = info.classNames.length;
        const binaryParts: Uint8Array[] = [];
        const outputs: ResponseOutput[] = request.outputs.map(
          (name: OutputName) => {
            const tensor: ResponseOutput = name === "probabilities"
              ? {
                name,
                shape: [count, classes],
                datatype: "FP32",
                data: results.flatMap((r) => Array.from(r.probabilities)),
              }
              : {
                name,
                shape: [count],
                datatype: "BYTES",
                data: results.map((r) =>
                  info.classNames[argmax(r.probabilities)]
                ),
              };
            if (!request.binaryOutputs.has(name)) return tensor;
            const bytes = binaryTensor(tensor.datatype, tensor.data!);
            binaryParts.push(bytes);
            return {
              name,
              shape: tensor.shape,
              datatype: tensor.datatype,
              parameters: { binary_data_size: bytes.length },
            };
          },
        );
        const body: InferenceResponse = {
          model_name: info.name,
          model_version: info.version,
          ...(request.id !== undefined ? { id: request.id } : {}),
          outputs,
        };
        if (binaryParts.length === 0) return c.json(body);
        const head = new TextEncoder().encode(JSON.stringify(body));
        const out = new Uint8Array(
          head.length + binaryParts.reduce((n, p) => n + p.length, 0),
        );
        out.set(head);
        let at = head.length;
        for (const part of binaryParts) {
          out.set(part, at);
          at += part.length;
        }
        return c.body(out, 200, {
          "content-type": BINARY_TYPE,
          [INFERENCE_HEADER]: String(head.length),
        });
      },
    );
  }

  return app;
}
