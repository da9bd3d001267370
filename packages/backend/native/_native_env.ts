// What the native libraries (blas.ts, dnnl.ts) read from the environment:
// variables (when --allow-env covers them), OpenMP's wait policy, the core
// count. Private to the native path.

/** The variable's value when `--allow-env` covers it and it is set, else undefined. */
export function readEnv(name: string): string | undefined {
  try {
    if (
      Deno.permissions.querySync({ name: "env", variable: name }).state !==
        "granted"
    ) {
      return undefined;
    }
    return Deno.env.get(name) || undefined;
  } catch {
    // The permission cannot be queried here: the variable counts as unset.
    return undefined;
  }
}

/**
 * Asks OpenMP workers to sleep when idle, unless the user chose a policy.
 *
 * OpenMP workers that still spin when the process exits crash Deno (exit
 * code 139). The OpenMP runtime reads the policy once, when the first library
 * that uses it loads, so call this before opening one. Returns false when the
 * policy could not be read or set: then one thread is the safe choice.
 */
export function preferPassiveOpenMp(): boolean {
  try {
    const names = ["OMP_WAIT_POLICY", "GOMP_SPINCOUNT"];
    const granted = names.every((variable) =>
      Deno.permissions.querySync({ name: "env", variable }).state === "granted"
    );
    if (!granted) return false;
    if (names.every((name) => Deno.env.get(name) === undefined)) {
      Deno.env.set("OMP_WAIT_POLICY", "PASSIVE");
    }
    return true;
  } catch {
    // The policy cannot be read or set: the caller falls back to one thread.
    return false;
  }
}

/** The logical cores the runtime reports (at least 1). */
export function coreCount(): number {
  return (globalThis.navigator as { hardwareConcurrency?: number })
    ?.hardwareConcurrency ?? 1;
}

/** The library directories tried on Linux, in order. */
export const LINUX_LIBRARY_DIRS: readonly string[] = [
  "/usr/lib/x86_64-linux-gnu",
  "/usr/lib/aarch64-linux-gnu",
  "/usr/lib64",
  "/usr/lib",
  "/usr/local/lib",
];

/** Whether FFI is granted; else the reason the native path stays off. */
export function ffiGranted(what: string): true | string {
  let ffi: Deno.PermissionState;
  try {
    ffi = Deno.permissions.querySync({ name: "ffi" }).state;
  } catch (error) {
    return `ffi permission unknown: ${error}`;
  }
  return ffi === "granted" ? true : `no --allow-ffi: ${what} stays off`;
}

/** "a: x; b: y; and N more" for the paths a loader could not open. */
export function listFailures(failures: readonly string[]): string {
  return `${failures.slice(0, 3).join("; ")}${
    failures.length > 3 ? `; and ${failures.length - 3} more` : ""
  }`;
}
