/** A trained run whose student the server can load. */
export interface FoundRun {
  /** Run name: the folder name under the runs directory. */
  name: string;
  /** The run's folder. */
  dir: string;
  /** The saved student model folder. */
  modelDir: string;
  /** When the run finished (ISO time from `run.json`). */
  finishedAt: string;
}

/** What {@linkcode findNewestCompleteRun} saw, for the error message when it finds none. */
export interface RunSearch {
  /** The newest complete run, if any. */
  run?: FoundRun;
  /** Runs that were skipped, each with the reason. */
  skipped: string[];
}

function join(dir: string, name: string): string {
  return dir.endsWith("/") ? `${dir}${name}` : `${dir}/${name}`;
}

/**
 * Finds the newest complete run under `runsDir`: a folder whose `run.json`
 * says `"complete": true` and whose `student/` folder exists, newest by
 * `finishedAt`. Unfinished or unreadable runs are listed in `skipped`.
 */
export async function findNewestCompleteRun(
  runsDir: string,
): Promise<RunSearch> {
  const skipped: string[] = [];
  const complete: FoundRun[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [];
    for await (const entry of Deno.readDir(runsDir)) entries.push(entry);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { skipped };
    throw error;
  }
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (!entry.isDirectory) continue;
    const dir = join(runsDir, entry.name);
    let run: unknown;
    try {
      run = JSON.parse(await Deno.readTextFile(join(dir, "run.json")));
    } catch (error) {
      skipped.push(
        `${dir}: run.json ${
          error instanceof Deno.errors.NotFound
            ? "is missing"
            : `is unreadable (${(error as Error).message})`
        }`,
      );
      continue;
    }
    const record = run as { complete?: unknown; finishedAt?: unknown };
    if (record?.complete !== true) {
      skipped.push(`${dir}: run is not complete`);
      continue;
    }
    const modelDir = join(dir, "student");
    try {
      if (!(await Deno.stat(modelDir)).isDirectory) {
        throw new Deno.errors.NotFound();
      }
    } catch (error) {
      skipped.push(
        `${dir}: complete but ${
          error instanceof Deno.errors.NotFound
            ? "has no student/ folder"
            : `student/ is unreadable (${(error as Error).message})`
        }`,
      );
      continue;
    }
    const finishedAt = typeof record.finishedAt === "string"
      ? record.finishedAt
      : "";
    complete.push({ name: entry.name, dir, modelDir, finishedAt });
  }
  complete.sort((a, b) =>
    (Date.parse(b.finishedAt) || 0) - (Date.parse(a.finishedAt) || 0) ||
    b.name.localeCompare(a.name)
  );
  return { run: complete[0], skipped };
}

/** A model name safe in URLs: letters, digits, `.`, `_` and `-`. */
export function modelNameFrom(text: string): string {
  const name = text.replace(/[^A-Za-z0-9._-]+/g, "-").replace(
    /^[-.]+|-+$/g,
    "",
  );
  return name || "model";
}

/**
 * The teacher names of the run a model folder belongs to, read from
 * `<dir>/../run.json` (`config.teachers`), in the order of the student's
 * distillation heads; `undefined` when the folder is not part of a run.
 */
export async function readRunTeachers(
  modelDir: string,
): Promise<string[] | undefined> {
  const parent =
    modelDir.replace(/\/+$/, "").split("/").slice(0, -1).join("/") || ".";
  try {
    const run = JSON.parse(await Deno.readTextFile(join(parent, "run.json")));
    const teachers = run?.config?.teachers;
    if (
      Array.isArray(teachers) && teachers.every((t) => typeof t === "string")
    ) {
      return teachers;
    }
  } catch {
    // not a run folder, or an unreadable run.json: the heads keep generic names
  }
  return undefined;
}
