import { encodeOutcomes, predictOutcomes } from "@vitkd/distill";
import { loadModel, modelStats } from "@vitkd/models";
import type { RunContext } from "./context.ts";
import {
  type CurveChart,
  type CurveSeries,
  renderCurvesSvg,
} from "./curves_svg.ts";
import { type MetricsRecord, readMetrics } from "./metrics_log.ts";
import { formatReportMarkdown } from "./report.ts";
import { exists, type ModelResult, writeTextAtomic } from "./run_folder.ts";
import { teacherNames } from "./stage_teachers.ts";
import { evaluateModel } from "./training.ts";

/** The legend name of a training job's curves. */
function seriesName(job: string): string {
  if (job.startsWith("teacher-")) return `teacher ${job.slice(8)}`;
  if (job === "baseline") return "student without teachers";
  return job;
}

/**
 * Training curves from the metrics log's `epoch` records: loss and accuracy
 * per epoch per model. A repeated (job, epoch) keeps its last record.
 */
export function curveCharts(records: MetricsRecord[]): CurveChart[] {
  const byJob = new Map<string, Map<number, MetricsRecord>>();
  for (const r of records) {
    if (r.event !== "epoch" || typeof r.job !== "string") continue;
    const epochs = byJob.get(r.job) ?? new Map<number, MetricsRecord>();
    epochs.set(Number(r.epoch), r);
    byJob.set(r.job, epochs);
  }
  const series = (field: "loss" | "accuracy"): CurveSeries[] =>
    [...byJob.entries()].map(([job, epochs]) => ({
      name: seriesName(job),
      points: [...epochs.entries()].sort((a, b) => a[0] - b[0]).map((
        [epoch, r],
      ) => [epoch, Number(r[field])] as [number, number]),
    }));
  return [
    {
      title: "training loss",
      xLabel: "epoch",
      yLabel: "loss per image",
      series: series("loss"),
    },
    {
      title: "training accuracy",
      xLabel: "epoch",
      yLabel: "accuracy (averaged heads)",
      series: series("accuracy"),
      yRange: [0, 1],
    },
  ];
}

/** Draws `curves.svg` from the run's metrics log. */
export async function writeCurves(ctx: RunContext): Promise<void> {
  const { records } = await readMetrics(ctx.paths.metrics);
  await writeTextAtomic(
    ctx.paths.curves,
    renderCurvesSvg(curveCharts(records), `run ${ctx.state.name}`),
  );
}

async function reevaluate(
  ctx: RunContext,
  dir: string,
  previous: ModelResult | undefined,
  label: string,
  keepOutcomes = false,
): Promise<ModelResult | undefined> {
  if (!previous || !(await exists(`${dir}/meta.json`))) return previous;
  const data = await ctx.data();
  const { model, meta } = await loadModel(dir);
  try {
    const evaluation = await evaluateModel(
      model,
      data.test,
      meta.input.normalization,
      { label: `evaluate ${label}`, sink: ctx.sink },
    );
    // a second pass, only for the two students the report tests against
    // each other (a few seconds on 10,000 images)
    const outcomes = keepOutcomes
      ? await predictOutcomes(model, data.test, meta.input.normalization)
      : undefined;
    return {
      ...previous,
      parameters: modelStats(model).parameters,
      accuracy: evaluation.averaged,
      headAccuracies: previous.headNames ? evaluation.heads : undefined,
      testCorrect: outcomes ? encodeOutcomes(outcomes) : undefined,
    };
  } finally {
    model.dispose();
  }
}

/**
 * Evaluates every saved model of the run as reloaded from disk (so the
 * reported figures are those of the saved files), then writes `report.md`
 * and `curves.svg`.
 */
export async function evalStage(ctx: RunContext): Promise<void> {
  ctx.requireDone("distill", "eval");
  const results = ctx.state.results;
  const names = teacherNames(ctx.config.teachers);
  const teachers: ModelResult[] = [];
  for (const name of names) {
    const previous = results.teachers.find((t) => t.name === name);
    const result = await reevaluate(
      ctx,
      ctx.paths.teacher(name),
      previous,
      `teacher ${name}`,
    );
    if (result) teachers.push(result);
  }
  results.teachers = teachers;
  results.student = await reevaluate(
    ctx,
    ctx.paths.student,
    results.student,
    "student",
    true,
  );
  results.baseline = await reevaluate(
    ctx,
    ctx.paths.baseline,
    results.baseline,
    "baseline",
    true,
  );
  for (const r of [...teachers, results.student, results.baseline]) {
    if (r) {
      ctx.metrics.write({
        event: "final",
        model: r.name,
        accuracy: r.accuracy,
        heads: r.headAccuracies,
      });
    }
  }
  await writeCurves(ctx);
}

/** Writes `report.md` from the run state. */
export async function writeReport(ctx: RunContext): Promise<void> {
  await writeTextAtomic(ctx.paths.report, formatReportMarkdown(ctx.state));
}
