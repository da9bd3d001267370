import { DataError } from "./errors.ts";

/** Reads a whole file, turning a missing or unreadable file into a `DataError`. */
export async function readFileOrThrow(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new DataError("file not found", path, { cause: error });
    }
    throw new DataError(`cannot read file: ${error}`, path, { cause: error });
  }
}

/** Whether `bytes` begin with the gzip magic number. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Gunzips `bytes` with the platform's DecompressionStream. */
export async function gunzip(
  bytes: Uint8Array,
  path: string,
): Promise<Uint8Array> {
  try {
    const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
      .pipeThrough(new DecompressionStream("gzip"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (error) {
    throw new DataError(
      `corrupt or truncated gzip data: ${(error as Error).message}`,
      path,
      { cause: error },
    );
  }
}

/** Reads a file, gunzipping it when it starts with the gzip magic number. */
export async function readMaybeGzip(path: string): Promise<Uint8Array> {
  const bytes = await readFileOrThrow(path);
  return isGzip(bytes) ? await gunzip(bytes, path) : bytes;
}

/** `"dir"`, `"file"`, or `undefined` when nothing is at `path`. */
export async function pathKind(
  path: string,
): Promise<"dir" | "file" | undefined> {
  try {
    const info = await Deno.stat(path);
    return info.isDirectory ? "dir" : "file";
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw new DataError(`cannot stat: ${error}`, path, { cause: error });
  }
}

/** Joins path segments with `/`, dropping a trailing slash of `base`. */
export function joinPath(base: string, ...parts: string[]): string {
  return [base.replace(/\/+$/, ""), ...parts].join("/");
}

/** Makes `path` absolute against the current directory. */
export function absolutePath(path: string): string {
  return path.startsWith("/") ? path : joinPath(Deno.cwd(), path);
}
