/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// A decode worker of the DecodePool: decodes and resizes one upload per
// message, off the server's event loop, and posts back the model-sized
// pixels (transferred) or the error message.
import { decodeUpload } from "./image_decode.ts";
import type { DecodeReply, DecodeRequest } from "./decode_pool.ts";

self.onmessage = (event: MessageEvent<DecodeRequest>) => {
  const { id, bytes, target, source } = event.data;
  let reply: DecodeReply;
  try {
    const prepared = decodeUpload(bytes, target, source);
    reply = { id, ok: true, prepared };
    self.postMessage(reply, [prepared.pixels.buffer as ArrayBuffer]);
  } catch (error) {
    // The name tells the pool a corrupt upload (DataError) from a failure.
    reply = {
      id,
      ok: false,
      name: (error as Error).name ?? "Error",
      message: (error as Error).message ?? `${error}`,
    };
    self.postMessage(reply);
  }
};
