import { BlasHelper } from "./blas_helper.ts";
import { SGEMM_SYMBOLS, THREAD_COUNT_SYMBOL } from "./blas_helper_protocol.ts";
import { heapAddress, heapPointer } from "./heap.ts";
import {
  coreCount,
  ffiGranted,
  LINUX_LIBRARY_DIRS,
  listFailures,
  readEnv,
} from "./_native_env.ts";
import { balanceGroups, callFlops, type SgemmCall } from "./sgemm_call.ts";

/** Where the native library came from and whether it could be opened. */
export interface BlasStatus {
  /** Whether `sgemm` calls a native library. */
  available: boolean;
  /** The library path that was opened, when available. */
  library?: string;
  /** Why the native library is not used, when unavailable. */
  reason?: string;
  /** How many threads the library runs with, when it says. */
  threads?: number;
  /** Whether a helper thread shares the sgemm work (see {@linkcode BlasHelper}). */
  helperThread?: boolean;
}

/** Row-major single-precision GEMM on byte offsets into one heap buffer. */
export interface Blas {
  /** The opened library's path. */
  readonly library: string;
  /** Threads the library uses. */
  readonly threads: number;
  /** Whether a helper thread shares {@linkcode Blas.sgemmGroups}. */
  readonly helperThread: boolean;
  /**
   * Runs groups of calls: the calls of a group in order, different groups
   * possibly at the same time on two threads. Groups must write disjoint
   * memory and not read what another group writes.
   */
  sgemmGroups(
    heap: ArrayBufferLike,
    groups: readonly (readonly SgemmCall[])[],
  ): void;
  /** Stops the helper thread; later calls run on the calling thread. */
  stopHelper(): void;
  /**
   * The helper thread while it takes work, for other kernels to share
   * with (see {@linkcode BlasHelper.shareLoop}); else undefined.
   */
  readonly helper: BlasHelper | undefined;
  /**
   * `C = alpha * op(A) * op(B) + beta * C`, all row-major, where `a`, `b` and
   * `c` are byte offsets into `heap` and `lda`, `ldb`, `ldc` are row strides
   * in elements.
   */
  sgemm(
    heap: ArrayBufferLike,
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: number,
    lda: number,
    b: number,
    ldb: number,
    beta: number,
    c: number,
    ldc: number,
  ): void;
}

const CBLAS_ROW_MAJOR = 101;
const CBLAS_NO_TRANS = 111;
const CBLAS_TRANS = 112;

const THREAD_SYMBOLS = {
  ...THREAD_COUNT_SYMBOL,
  openblas_get_num_threads: { parameters: [], result: "i32", optional: true },
} as const;

/** The library paths tried, in order, on this operating system. */
export function blasCandidates(
  os: typeof Deno.build.os = Deno.build.os,
  env: string | undefined = readEnv("OPENBLAS_LIB"),
): string[] {
  const paths: string[] = [];
  if (env) paths.push(env);
  if (os === "darwin") {
    paths.push(
      "/System/Library/Frameworks/Accelerate.framework/Accelerate",
      "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
      "/usr/local/opt/openblas/lib/libopenblas.dylib",
    );
  } else if (os === "windows") {
    paths.push("libopenblas.dll", "openblas.dll");
  } else {
    for (const dir of LINUX_LIBRARY_DIRS) {
      paths.push(
        `${dir}/libopenblas.so.0`,
        `${dir}/openblas-openmp/libopenblas.so.0`,
        `${dir}/openblas-pthread/libopenblas.so.0`,
        `${dir}/libopenblas.so`,
      );
    }
    // Let the dynamic loader search its own paths last.
    paths.push("libopenblas.so.0", "libopenblas.so");
  }
  return paths;
}

// A thread count the user set for OpenBLAS or OpenMP wins over the core count.
function userThreads(): number | undefined {
  for (const name of ["OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"]) {
    const value = Number(readEnv(name));
    if (Number.isInteger(value) && value > 0) return value;
  }
  return undefined;
}

// One core is left to the JS thread's own helpers (V8's GC, Deno's I/O):
// with every core busy in sgemm, OpenMP's barriers wait on descheduled
// workers, and training ran slower with every core in OpenBLAS than with one
// left free (docs/performance.md, "native BLAS threads").
function defaultThreads(): number {
  const count = coreCount();
  return count > 1 ? count - 1 : 1;
}

/** Options for {@linkcode openBlas}. */
export interface OpenBlasOptions {
  /** Library paths to try instead of the usual ones. */
  candidates?: string[];
  /**
   * Threads to ask for; defaults to `OPENBLAS_NUM_THREADS` or
   * `OMP_NUM_THREADS` when set, else one less than the core count (at
   * least one).
   */
  threads?: number;
  /**
   * Whether to start a helper thread for {@linkcode Blas.sgemmGroups};
   * defaults to on when the library runs one thread on a machine with more
   * than one core, unless `VITKD_BLAS_HELPER=0`.
   */
  helperThread?: boolean;
  /**
   * Work (flops) below which {@linkcode Blas.sgemmGroups} runs everything on
   * the calling thread: a post to the helper and its wake-up cost about
   * 10-30 µs. Default 2e6.
   */
  minSharedFlops?: number;
}

function wantsHelper(threads: number, option: boolean | undefined): boolean {
  if (option !== undefined) return option;
  return threads === 1 && coreCount() > 1 &&
    readEnv("VITKD_BLAS_HELPER") !== "0";
}

/**
 * Finds and opens a native CBLAS (OpenBLAS, or Accelerate on macOS).
 *
 * Never throws: without `--allow-ffi` or without a library it returns
 * `{ status: { available: false, reason } }`.
 */
export function openBlas(
  options: OpenBlasOptions = {},
): { blas?: Blas; status: BlasStatus } {
  const ffi = ffiGranted("native BLAS");
  if (ffi !== true) return { status: { available: false, reason: ffi } };
  const candidates = options.candidates ?? blasCandidates();
  const failures: string[] = [];
  for (const path of candidates) {
    let lib: Deno.DynamicLibrary<typeof SGEMM_SYMBOLS>;
    try {
      lib = Deno.dlopen(path, SGEMM_SYMBOLS);
    } catch (error) {
      failures.push(`${path}: ${(error as Error).message.split("\n")[0]}`);
      continue;
    }
    const wanted = options.threads ?? userThreads() ?? defaultThreads();
    let threads = wanted;
    try {
      const control = Deno.dlopen(path, THREAD_SYMBOLS);
      if (control.symbols.openblas_set_num_threads) {
        control.symbols.openblas_set_num_threads(wanted);
      }
      if (control.symbols.openblas_get_num_threads) {
        threads = control.symbols.openblas_get_num_threads();
      }
    } catch {
      // Accelerate has no thread control; it picks its own.
    }
    let helper: BlasHelper | undefined;
    if (wantsHelper(threads, options.helperThread)) {
      const started = BlasHelper.start(path);
      if (typeof started !== "string") helper = started;
    }
    const blas = makeBlas(
      lib,
      path,
      threads,
      helper,
      options.minSharedFlops ?? 2e6,
    );
    return {
      blas,
      status: {
        available: true,
        library: path,
        threads,
        helperThread: helper !== undefined,
      },
    };
  }
  return {
    status: {
      available: false,
      reason: `no BLAS library found (set OPENBLAS_LIB); tried ${
        listFailures(failures)
      }`,
    },
  };
}

function makeBlas(
  lib: Deno.DynamicLibrary<typeof SGEMM_SYMBOLS>,
  library: string,
  threads: number,
  helper: BlasHelper | undefined,
  minSharedFlops: number,
): Blas {
  const cblasSgemm = lib.symbols.cblas_sgemm;
  const at = (heap: ArrayBufferLike, offset: number): Deno.PointerValue => {
    const start = heapPointer(heap);
    return offset === 0 ? start : Deno.UnsafePointer.offset(start!, offset);
  };
  const sgemm: Blas["sgemm"] = (
    heap,
    transA,
    transB,
    m,
    n,
    k,
    alpha,
    a,
    lda,
    b,
    ldb,
    beta,
    c,
    ldc,
  ) => {
    if (m <= 0 || n <= 0) return;
    cblasSgemm(
      CBLAS_ROW_MAJOR,
      transA ? CBLAS_TRANS : CBLAS_NO_TRANS,
      transB ? CBLAS_TRANS : CBLAS_NO_TRANS,
      m,
      n,
      k,
      alpha,
      at(heap, a),
      lda,
      at(heap, b),
      ldb,
      beta,
      at(heap, c),
      ldc,
    );
  };
  const run = (heap: ArrayBufferLike, call: SgemmCall) =>
    sgemm(
      heap,
      call.transA,
      call.transB,
      call.m,
      call.n,
      call.k,
      call.alpha,
      call.a,
      call.lda,
      call.b,
      call.ldb,
      call.beta,
      call.c,
      call.ldc,
    );
  return {
    library,
    threads,
    get helperThread() {
      return helper?.alive ?? false;
    },
    stopHelper() {
      helper?.stop();
    },
    get helper() {
      return helper?.alive ? helper : undefined;
    },
    sgemm,
    sgemmGroups(heap, groups) {
      const runAll = (list: readonly (readonly SgemmCall[])[]) => {
        for (const group of list) for (const call of group) run(heap, call);
      };
      if (
        !helper?.alive || groups.length < 2 ||
        groups.reduce((sum, g) => sum + callFlops(g), 0) < minSharedFlops
      ) {
        runAll(groups);
        return;
      }
      const [mine, theirs] = balanceGroups(groups);
      helper.share(
        heapAddress(heap),
        theirs.flat().filter((call) => call.m > 0 && call.n > 0),
        () => runAll(mine),
        (call) => run(heap, call),
      );
    },
  };
}
