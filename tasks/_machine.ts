/**
 * What the benchmarks print about the machine they ran on: figures from a
 * shared machine mean little without its CPU and its load.
 */
import * as tf from "@tensorflow/tfjs";

/** The CPU's model name from /proc/cpuinfo ("unknown cpu" elsewhere). */
export function cpuModel(): string {
  try {
    const info = Deno.readTextFileSync("/proc/cpuinfo");
    return info.match(/model name\s*:\s*(.+)/)?.[1]?.trim() ?? "unknown cpu";
  } catch {
    // No /proc here (not Linux): the line is descriptive, not a figure.
    return "unknown cpu";
  }
}

/** The 1, 5 and 15 minute load averages, space-separated ("unknown" elsewhere). */
export function loadAverage(): string {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(
      " ",
    );
  } catch {
    // No /proc here (not Linux): the line is descriptive, not a figure.
    return "unknown";
  }
}

/**
 * The first line every benchmark prints: CPU, logical CPUs, OS, load
 * average, and the Deno and tfjs versions.
 */
export function machineLine(): string {
  return `machine: ${cpuModel()}, ${navigator.hardwareConcurrency} logical CPUs, ${Deno.build.os} ${Deno.build.arch}, load ${loadAverage()}; deno ${Deno.version.deno}, tfjs ${tf.version.tfjs}`;
}
