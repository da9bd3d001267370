import { Hono } from "hono";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { argmax, mediaType, type ServeState, tooLarge } from "./context.ts";
import { HttpError } from "./errors.ts";
import {
  type InferenceResponse,
  modelMetadata,
  parseInferenceRequest,
  type ResponseOutput,
} from "./protocol.ts";

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
    (c) => c.json({ ready: state.isReady() }, state.isReady() ? 200 : 503),
  );
  app.get(
    "/",
    (c) => c.json({ name: "vitkd-serve", version: "0.1.0", extensions: [] }),
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
      return c.json(
        { name: info.name, ready: state.isReady() },
        state.isReady() ? 200 : 503,
      );
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
        const type = mediaType(c);
        if (type !== "application/json" && type !== "") {
          throw new HttpError(
            415,
            `content type "${type}" is not supported; send the inference request as application/json`,
          );
        }
        const text = await c.req.text();
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch (error) {
          throw new HttpError(
            400,
            `malformed JSON in request body: ${(error as Error).message}`,
          );
        }
        const request = parseInferenceRequest(json, info, limits.maxImages);
        const results = await batcher.submit(request.input);
        const count = results.length;
        const classes = info.classNames.length;
        const outputs: ResponseOutput[] = request.outputs.map((name) => {
          if (name === "probabilities") {
            const data: number[] = [];
            for (const r of results) {
              for (const p of r.probabilities) data.push(p);
            }
            return { name, shape: [count, classes], datatype: "FP32", data };
          }
          return {
            name,
            shape: [count],
            datatype: "BYTES",
            data: results.map((r) => info.classNames[argmax(r.probabilities)]),
          };
        });
        const body: InferenceResponse = {
          model_name: info.name,
          model_version: info.version,
          ...(request.id !== undefined ? { id: request.id } : {}),
          outputs,
        };
        return c.json(body);
      },
    );
  }

  return app;
}
