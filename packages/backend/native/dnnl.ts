// oneDNN (libdnnl, the 2.x C API) opened through Deno FFI: the library, its
// CPU engine and stream, and its OpenMP thread count. The convolution
// primitives built on it are in _dnnl_conv.ts.
import {
  coreCount,
  ffiGranted,
  LINUX_LIBRARY_DIRS,
  listFailures,
  readEnv,
} from "./_native_env.ts";

/** The oneDNN 2.x C functions the native kernels call, for `Deno.dlopen`. */
export const DNNL_SYMBOLS = {
  dnnl_version: { parameters: [], result: "pointer" },
  dnnl_engine_create: {
    parameters: ["buffer", "i32", "usize"],
    result: "i32",
  },
  dnnl_stream_create: {
    parameters: ["buffer", "pointer", "u32"],
    result: "i32",
  },
  dnnl_stream_wait: { parameters: ["pointer"], result: "i32" },
  dnnl_memory_desc_init_by_tag: {
    parameters: ["buffer", "i32", "buffer", "i32", "i32"],
    result: "i32",
  },
  dnnl_memory_desc_init_by_strides: {
    parameters: ["buffer", "i32", "buffer", "i32", "buffer"],
    result: "i32",
  },
  dnnl_primitive_attr_set_output_scales: {
    parameters: ["pointer", "i64", "i32", "buffer"],
    result: "i32",
  },
  dnnl_memory_desc_equal: {
    parameters: ["pointer", "pointer"],
    result: "i32",
  },
  dnnl_memory_desc_get_size: { parameters: ["pointer"], result: "usize" },
  dnnl_dilated_convolution_forward_desc_init: {
    parameters: [
      "buffer", // conv_desc
      "i32", // prop_kind
      "i32", // alg_kind
      "buffer", // src_desc
      "buffer", // weights_desc
      "buffer", // bias_desc (may be null)
      "buffer", // dst_desc
      "buffer", // strides
      "buffer", // dilates
      "buffer", // padding_l
      "buffer", // padding_r
    ],
    result: "i32",
  },
  dnnl_dilated_convolution_backward_data_desc_init: {
    parameters: [
      "buffer", // conv_desc
      "i32", // alg_kind
      "buffer", // diff_src_desc
      "buffer", // weights_desc
      "buffer", // diff_dst_desc
      "buffer", // strides
      "buffer", // dilates
      "buffer", // padding_l
      "buffer", // padding_r
    ],
    result: "i32",
  },
  dnnl_dilated_convolution_backward_weights_desc_init: {
    parameters: [
      "buffer", // conv_desc
      "i32", // alg_kind
      "buffer", // src_desc
      "buffer", // diff_weights_desc
      "buffer", // diff_bias_desc (may be null)
      "buffer", // diff_dst_desc
      "buffer", // strides
      "buffer", // dilates
      "buffer", // padding_l
      "buffer", // padding_r
    ],
    result: "i32",
  },
  dnnl_eltwise_forward_desc_init: {
    parameters: ["buffer", "i32", "i32", "buffer", "f32", "f32"],
    result: "i32",
  },
  dnnl_eltwise_backward_desc_init: {
    parameters: ["buffer", "i32", "buffer", "buffer", "f32", "f32"],
    result: "i32",
  },
  dnnl_softmax_forward_desc_init: {
    parameters: ["buffer", "i32", "buffer", "i32"],
    result: "i32",
  },
  dnnl_layer_normalization_forward_desc_init: {
    parameters: ["buffer", "i32", "buffer", "buffer", "f32", "u32"],
    result: "i32",
  },
  dnnl_batch_normalization_forward_desc_init: {
    parameters: ["buffer", "i32", "buffer", "f32", "u32"],
    result: "i32",
  },
  dnnl_batch_normalization_backward_desc_init: {
    parameters: ["buffer", "i32", "buffer", "buffer", "f32", "u32"],
    result: "i32",
  },
  dnnl_binary_desc_init: {
    parameters: ["buffer", "i32", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  dnnl_matmul_desc_init: {
    parameters: ["buffer", "buffer", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  dnnl_primitive_desc_create: {
    parameters: ["buffer", "buffer", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  dnnl_primitive_desc_query: {
    parameters: ["pointer", "i32", "i32", "buffer"],
    result: "i32",
  },
  dnnl_primitive_desc_query_md: {
    parameters: ["pointer", "i32", "i32"],
    result: "pointer",
  },
  dnnl_primitive_desc_destroy: { parameters: ["pointer"], result: "i32" },
  dnnl_reorder_primitive_desc_create: {
    parameters: [
      "buffer",
      "pointer",
      "pointer",
      "pointer",
      "pointer",
      "pointer",
    ],
    result: "i32",
  },
  dnnl_primitive_create: {
    parameters: ["buffer", "pointer"],
    result: "i32",
  },
  dnnl_primitive_execute: {
    parameters: ["pointer", "pointer", "i32", "buffer"],
    result: "i32",
  },
  dnnl_primitive_destroy: { parameters: ["pointer"], result: "i32" },
  dnnl_memory_create: {
    parameters: ["buffer", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  dnnl_memory_set_data_handle: {
    parameters: ["pointer", "pointer"],
    result: "i32",
  },
  dnnl_memory_destroy: { parameters: ["pointer"], result: "i32" },
  dnnl_primitive_attr_create: { parameters: ["buffer"], result: "i32" },
  dnnl_primitive_attr_destroy: { parameters: ["pointer"], result: "i32" },
  dnnl_primitive_attr_set_post_ops: {
    parameters: ["pointer", "pointer"],
    result: "i32",
  },
  dnnl_post_ops_create: { parameters: ["buffer"], result: "i32" },
  dnnl_post_ops_destroy: { parameters: ["pointer"], result: "i32" },
  dnnl_post_ops_append_binary: {
    parameters: ["pointer", "i32", "buffer"],
    result: "i32",
  },
  dnnl_post_ops_append_eltwise: {
    parameters: ["pointer", "f32", "i32", "f32", "f32"],
    result: "i32",
  },
} as const;

/** libgomp's per-thread team size, for oneDNN built with OpenMP. */
const OPENMP_SYMBOLS = {
  omp_set_num_threads: { parameters: ["i32"], result: "void" },
  omp_get_max_threads: { parameters: [], result: "i32" },
} as const;

/** The opened library's symbols. */
export type DnnlSymbols = Deno.DynamicLibrary<typeof DNNL_SYMBOLS>["symbols"];

/** What the library names its status codes (`dnnl_status_t`). */
const STATUS_NAMES = [
  "success",
  "out_of_memory",
  "invalid_arguments",
  "unimplemented",
  "iterator_ends",
  "runtime_error",
  "not_required",
];

const RUNTIME_OMP = 2;
const RUNTIME_SEQ = 1;
const ENGINE_CPU = 1;
const STREAM_DEFAULT_FLAGS = 1;

/** Where oneDNN came from and whether it could be opened. */
export interface DnnlStatus {
  /** Whether the oneDNN convolutions can run. */
  available: boolean;
  /** The library path that was opened, when available. */
  library?: string;
  /** `major.minor.patch`, when the library was opened. */
  version?: string;
  /** Threads the forward and input-gradient primitives run with. */
  threads?: number;
  /** Threads the filter-gradient primitives run with. */
  filterGradientThreads?: number;
  /** Why oneDNN is not used, when unavailable. */
  reason?: string;
}

/** An opened oneDNN: its symbols, one CPU engine and one in-order stream. */
export interface Dnnl {
  /** The opened library's path. */
  readonly library: string;
  /** `major.minor.patch`. */
  readonly version: string;
  /** Threads the forward and input-gradient primitives run with. */
  readonly threads: number;
  /**
   * Threads the filter-gradient primitives run with: their per-thread
   * partial sums meet at barriers, which wait when another process holds a
   * core (see {@linkcode OpenDnnlOptions}).
   */
  readonly filterGradientThreads: number;
  /** The library's functions. */
  readonly symbols: DnnlSymbols;
  /** The CPU engine every primitive and memory object belongs to. */
  readonly engine: Deno.PointerValue;
  /** The stream primitives execute on. */
  readonly stream: Deno.PointerValue;
  /**
   * Runs `work` with OpenMP's team size on this thread set to `threads`,
   * then puts the previous size back (OpenBLAS on the same thread keeps its
   * own). Create and execute each primitive inside it, with the same count.
   */
  withThreads<T>(threads: number, work: () => T): T;
}

/** Throws a readable error when a oneDNN call did not succeed. */
export function checkStatus(status: number, call: string): void {
  if (status !== 0) {
    throw new Error(
      `oneDNN ${call} failed: ${STATUS_NAMES[status] ?? `status ${status}`}`,
    );
  }
}

/** Reads the pointer a oneDNN call wrote into an out-parameter. */
export function outPointer(cell: BigUint64Array): Deno.PointerValue {
  return Deno.UnsafePointer.create(cell[0]);
}

/** The library paths tried, in order, on this operating system. */
export function dnnlCandidates(
  os: typeof Deno.build.os = Deno.build.os,
  env: string | undefined = readEnv("DNNL_LIB"),
): string[] {
  const paths: string[] = [];
  if (env) paths.push(env);
  if (os === "darwin") {
    paths.push(
      "/opt/homebrew/opt/onednn/lib/libdnnl.2.dylib",
      "/usr/local/opt/onednn/lib/libdnnl.2.dylib",
      "libdnnl.2.dylib",
    );
  } else if (os === "windows") {
    paths.push("dnnl.dll");
  } else {
    for (const dir of LINUX_LIBRARY_DIRS) {
      paths.push(`${dir}/libdnnl.so.2`, `${dir}/libdnnl.so`);
    }
    paths.push("libdnnl.so.2");
  }
  return paths;
}

/** Options for {@linkcode openDnnl}. */
export interface OpenDnnlOptions {
  /** Library paths to try instead of the usual ones. */
  candidates?: string[];
  /**
   * Threads the forward and input-gradient primitives run with; defaults to
   * `VITKD_DNNL_THREADS` when set, else the core count. Only an OpenMP build
   * can be told (a sequential one runs one).
   */
  threads?: number;
  /**
   * Threads the filter-gradient primitives run with; defaults to
   * `VITKD_DNNL_THREADS` when set, else the core count. With OpenMP's
   * passive waiting two threads trained ResNet-8 at 1,313-1,405 img/s
   * against 1,129-1,180 with one on the quiet 2-core development machine,
   * and at 432-461 against 457-482 while another process held a core.
   */
  filterGradientThreads?: number;
}

function wantedThreads(
  option: number | undefined,
  name: string,
  otherwise: number,
): number {
  if (option !== undefined) {
    if (!Number.isInteger(option) || option < 1) {
      throw new Error(
        `openDnnl: ${name} must be a positive integer, got ${option}`,
      );
    }
    return option;
  }
  const value = Number(readEnv("VITKD_DNNL_THREADS"));
  return Number.isInteger(value) && value > 0 ? value : otherwise;
}

interface Version {
  major: number;
  minor: number;
  patch: number;
  cpuRuntime: number;
}

function readVersion(symbols: DnnlSymbols): Version {
  const pointer = symbols.dnnl_version();
  if (pointer === null) throw new Error("oneDNN dnnl_version returned null");
  const view = new Deno.UnsafePointerView(pointer);
  // int major, minor, patch; const char *hash; unsigned cpu_runtime, ...
  return {
    major: view.getInt32(0),
    minor: view.getInt32(4),
    patch: view.getInt32(8),
    cpuRuntime: view.getUint32(24),
  };
}

/**
 * Finds and opens oneDNN 2.x, makes its CPU engine and stream and sets its
 * thread count.
 *
 * Never throws: without `--allow-ffi`, without the library, with a version
 * other than 2.x or with `VITKD_DNNL=0` it returns
 * `{ status: { available: false, reason } }`.
 */
export function openDnnl(
  options: OpenDnnlOptions = {},
): { dnnl?: Dnnl; status: DnnlStatus } {
  const off = (reason: string) => ({ status: { available: false, reason } });
  if (readEnv("VITKD_DNNL") === "0") return off("VITKD_DNNL=0");
  const ffi = ffiGranted("oneDNN");
  if (ffi !== true) return off(ffi);
  const failures: string[] = [];
  for (const path of options.candidates ?? dnnlCandidates()) {
    let lib: Deno.DynamicLibrary<typeof DNNL_SYMBOLS>;
    try {
      lib = Deno.dlopen(path, DNNL_SYMBOLS);
    } catch (error) {
      failures.push(`${path}: ${(error as Error).message.split("\n")[0]}`);
      continue;
    }
    try {
      return start(lib, path, options);
    } catch (error) {
      lib.close();
      return off(`${path}: ${(error as Error).message}`);
    }
  }
  return off(
    `no oneDNN library found (apt-get install libdnnl2, or set DNNL_LIB); tried ${
      listFailures(failures)
    }`,
  );
}

function start(
  lib: Deno.DynamicLibrary<typeof DNNL_SYMBOLS>,
  library: string,
  options: OpenDnnlOptions,
): { dnnl: Dnnl; status: DnnlStatus } {
  const symbols = lib.symbols;
  const v = readVersion(symbols);
  const version = `${v.major}.${v.minor}.${v.patch}`;
  if (v.major !== 2) {
    throw new Error(
      `oneDNN ${version}: only the 2.x C API is supported (Debian's libdnnl2)`,
    );
  }
  const cell = new BigUint64Array(1);
  checkStatus(
    symbols.dnnl_engine_create(cell, ENGINE_CPU, 0n),
    "dnnl_engine_create",
  );
  const engine = outPointer(cell);
  checkStatus(
    symbols.dnnl_stream_create(cell, engine, STREAM_DEFAULT_FLAGS),
    "dnnl_stream_create",
  );
  const stream = outPointer(cell);
  let threads = 1;
  let filterGradientThreads = 1;
  let withThreads: Dnnl["withThreads"] = (_, work) => work();
  if (v.cpuRuntime === RUNTIME_OMP) {
    const omp = openOpenMp();
    if (omp) {
      threads = wantedThreads(options.threads, "threads", coreCount());
      filterGradientThreads = wantedThreads(
        options.filterGradientThreads,
        "filterGradientThreads",
        coreCount(),
      );
      withThreads = (count, work) => {
        const before = omp.omp_get_max_threads();
        if (before === count) return work();
        omp.omp_set_num_threads(count);
        try {
          return work();
        } finally {
          omp.omp_set_num_threads(before);
        }
      };
    }
  } else if (v.cpuRuntime !== RUNTIME_SEQ) {
    // TBB or a thread pool: the library picks its own thread count.
    threads = filterGradientThreads = coreCount();
  }
  const dnnl: Dnnl = {
    library,
    version,
    threads,
    filterGradientThreads,
    symbols,
    engine,
    stream,
    withThreads,
  };
  return {
    dnnl,
    status: {
      available: true,
      library,
      version,
      threads,
      filterGradientThreads,
    },
  };
}

// The OpenMP runtime oneDNN was linked with is already loaded; opening it
// again by its soname gives the same instance.
function openOpenMp():
  | Deno.DynamicLibrary<typeof OPENMP_SYMBOLS>["symbols"]
  | undefined {
  for (const name of ["libgomp.so.1", "libomp.so", "libiomp5.so"]) {
    try {
      return Deno.dlopen(name, OPENMP_SYMBOLS).symbols;
    } catch {
      // try the next runtime
    }
  }
  return undefined;
}
