// The value parsers of `deno task train`'s flags: each checks one flag's text
// and throws a UsageError naming the flag ('--epochs: expected a whole
// number, got "zero"'). The `whole`, `number`, `oneOf`, ... factories make
// the `parse` of a flag declaration in cli_flags.ts.

import { UsageError } from "./errors.ts";

/** Checks and converts one flag's text; `flag` is its name without `--`. */
export type ValueParser<T> = (text: string, flag: string) => T;

/** Parses a whole number in [min, max] or throws a UsageError naming the flag. */
export function parseInteger(
  flag: string,
  value: string,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const text = value.trim();
  if (!/^[+-]?\d+$/.test(text)) {
    throw new UsageError(
      `--${flag}: expected a whole number, got "${value}"`,
    );
  }
  const n = Number(text);
  if (n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER
      ? `>= ${min}`
      : `between ${min} and ${max}`;
    throw new UsageError(`--${flag}: expected a number ${range}, got ${n}`);
  }
  return n;
}

/** Parses a finite number in [min, max] (or (min, max] when `exclusiveMin`). */
export function parseNumber(
  flag: string,
  value: string,
  min: number,
  max = Infinity,
  exclusiveMin = false,
): number {
  const text = value.trim();
  const n = text === "" ? NaN : Number(text);
  if (!Number.isFinite(n)) {
    throw new UsageError(`--${flag}: expected a number, got "${value}"`);
  }
  if ((exclusiveMin ? n <= min : n < min) || n > max) {
    const low = exclusiveMin ? `> ${min}` : `>= ${min}`;
    const range = max === Infinity ? low : `${low} and <= ${max}`;
    throw new UsageError(`--${flag}: expected a number ${range}, got ${n}`);
  }
  return n;
}

/** A whole number in [min, max]. */
export function whole(
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): ValueParser<number> {
  return (text, flag) => parseInteger(flag, text, min, max);
}

/** A finite number in [min, max]; in (min, max] with `above: true`. */
export function number(
  min: number,
  max = Infinity,
  { above = false }: { above?: boolean } = {},
): ValueParser<number> {
  return (text, flag) => parseNumber(flag, text, min, max, above);
}

/** One of `choices`. */
export function oneOf<C extends readonly string[]>(
  choices: C,
): ValueParser<C[number]> {
  return (text, flag) => {
    if (!(choices as readonly string[]).includes(text)) {
      throw new UsageError(
        `--${flag}: unknown value "${text}"; expected one of ${
          choices.join(", ")
        }`,
      );
    }
    return text as C[number];
  };
}

/** A whole number >= 1, or `all` (null). */
export const perClass: ValueParser<number | null> = (text, flag) =>
  text === "all" ? null : parseInteger(flag, text, 1);

/** A comma-separated list without empty items. */
export const list: ValueParser<string[]> = (text, flag) => {
  const items = text.split(",").map((s) => s.trim());
  if (items.some((s) => s === "")) {
    throw new UsageError(
      `--${flag}: expected a comma-separated list without empty items, got "${text}"`,
    );
  }
  return items;
};
