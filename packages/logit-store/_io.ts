import { LogitStoreError } from "./errors.ts";

/** Reads up to `out.length` bytes at `offset`; returns how many were read. */
export function readFully(
  file: Deno.FsFile,
  offset: number,
  out: Uint8Array,
): number {
  file.seekSync(offset, Deno.SeekMode.Start);
  let got = 0;
  while (got < out.length) {
    const n = file.readSync(out.subarray(got));
    if (n === null || n === 0) break;
    got += n;
  }
  return got;
}

/**
 * Reads exactly `out.length` bytes at `offset`; throws naming `what` and the
 * file when it ends early.
 */
export function readExactly(
  file: Deno.FsFile,
  path: string,
  offset: number,
  out: Uint8Array,
  what: string,
): void {
  const got = readFully(file, offset, out);
  if (got !== out.length) {
    throw new LogitStoreError(
      `${path}: truncated: ${what} needs ${out.length} bytes at offset ${offset}, only ${got} present`,
    );
  }
}

/** Formats a 32-bit value as 8 hex digits. */
export function hex(n: number): string {
  return n.toString(16).padStart(8, "0");
}
