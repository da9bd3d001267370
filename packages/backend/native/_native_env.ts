// What the native libraries (blas.ts, dnnl.ts) read from the environment:
// variables (when --allow-env covers them), the core count. Private to the
// native path.
//
// OpenMP's wait policy is left to the OpenMP runtime and the user: libgomp,
// unless told otherwise (OMP_WAIT_POLICY, GOMP_SPINCOUNT), spins for a while
// after each parallel region before its threads sleep, as it does in
// PyTorch. On the 2-core development VM waking a sleeping thread cost
// 0.1-0.3 ms, up to 60 times a ResNet-8 step: spinning trained ResNet-8 at
// 1,797-1,901 img/s against 1,497-1,746 with passive waiting (and the ViT
// and rednet8 7-38 % faster), alternating. With another process busy on one
// of the two cores it was 15-20 % slower than passive waiting (PyTorch:
// 40 % slower still); OMP_WAIT_POLICY=PASSIVE suits a shared machine.

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
