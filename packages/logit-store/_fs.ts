import { dirname } from "./_path.ts";

/**
 * Flushes the directory entry of `path` (after a rename) where the platform
 * allows opening a directory; elsewhere the rename is already ordered after
 * the file's own fsync, which is what matters for not exposing a short file.
 */
export function syncDirectory(path: string): void {
  try {
    const dir = Deno.openSync(dirname(path), { read: true });
    try {
      dir.syncSync();
    } finally {
      dir.close();
    }
  } catch {
    // Best effort: not supported here (e.g. Windows), and the rename itself
    // has succeeded; nothing more can be done.
  }
}

/** Whether something (a file, a folder, a link) is at `path`. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/**
 * Removes the file at `path` when there is one. Only its absence is fine:
 * a file that stays for another reason (permissions, a folder in its place)
 * would be taken for live data later, so that error is thrown.
 */
export async function removeIfExists(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}
