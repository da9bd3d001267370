import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertStrictEquals,
} from "@std/assert";
import { BackendError } from "@vitkd/backend";
import { DataError } from "@vitkd/data";
import { ModelError } from "@vitkd/models";
import { createApp } from "./app.ts";
import { QueueFullError } from "./batcher.ts";
import { DecoderBusyError } from "./decode_pool.ts";
import { httpAnswerOf, toHttpError } from "./error_status.ts";
import { HttpError } from "./errors.ts";
import type { ModelOutput } from "./runner.ts";
import { BandRunner, greyPng } from "./testing.ts";

Deno.test("the status table: typed errors get their status, anything else a 500", () => {
  const cases: [unknown, number, boolean][] = [
    [new DataError("corrupt or truncated PNG", "a.png"), 400, true],
    [new QueueFullError(9, 8), 503, true],
    [new DecoderBusyError(9, 8), 503, true],
    [new BackendError("device lost"), 503, true],
    [new HttpError(413, "too big"), 413, true],
    [new ModelError("broken"), 500, false],
    [new TypeError("x is undefined"), 500, false],
  ];
  for (const [error, status, expected] of cases) {
    const answer = httpAnswerOf(error);
    assertEquals([answer.status, answer.expected], [status, expected]);
  }
  assertEquals(
    httpAnswerOf(new TypeError("x is undefined")).message,
    "internal error: x is undefined",
  );
});

Deno.test("toHttpError turns a mapped error into an HttpError and leaves the rest", () => {
  const data = new DataError("corrupt or truncated PNG", "a.png");
  const http = toHttpError(data) as HttpError;
  assertInstanceOf(http, HttpError);
  assertEquals([http.status, http.message], [
    400,
    "a.png: corrupt or truncated PNG",
  ]);
  assertStrictEquals(http.cause, data);
  const bug = new TypeError("x is undefined");
  assertStrictEquals(toHttpError(bug), bug);
});

/** A model whose every call fails with `error`. */
class FailingRunner extends BandRunner {
  constructor(readonly error: Error) {
    super();
  }

  override predict(): Promise<ModelOutput> {
    return Promise.reject(this.error);
  }
}

async function predictWith(
  runner: BandRunner,
  body: Uint8Array,
): Promise<{ status: number; error: string; retryAfter: string | null }> {
  const served = createApp({ runner });
  try {
    const res = await served.app.request("/v1/predict", {
      method: "POST",
      body: body as Uint8Array<ArrayBuffer>,
      headers: { "content-type": "image/png" },
    });
    const { error } = await res.json();
    return {
      status: res.status,
      error,
      retryAfter: res.headers.get("retry-after"),
    };
  } finally {
    await served.drain();
  }
}

Deno.test("a request meeting a typed error is answered with the table's status", async () => {
  const png = greyPng(8, 8, 100);
  const corrupt = await predictWith(
    new BandRunner(),
    png.slice(0, png.length - 20),
  );
  assertEquals(corrupt.status, 400);
  assert(corrupt.error.startsWith("body: corrupt or truncated PNG"));
  const backend = await predictWith(
    new FailingRunner(new BackendError("webgpu: the device was lost")),
    png,
  );
  assertEquals(backend, {
    status: 503,
    error: "webgpu: the device was lost",
    retryAfter: "1",
  });
  // an unexpected error is a 500, and logged with its stack
  const logged: unknown[][] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => logged.push(args);
  try {
    const bug = await predictWith(
      new FailingRunner(new TypeError("x is undefined")),
      png,
    );
    assertEquals([bug.status, bug.error], [
      500,
      "internal error: x is undefined",
    ]);
  } finally {
    console.error = original;
  }
  assertEquals(logged.length, 1);
  assert(logged[0].some((part) => part instanceof TypeError));
});
