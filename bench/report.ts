/**
 * The benchmark's printed result: per path, median [min .. max] of wall time, throughput and
 * time to first byte; throughput ratios against the registry; worker memory against a bare
 * R2 put; and whether each target of the issue was met.
 */
import type { MemorySpan } from './memory';
import { summarize } from './stats';
import type { Download, Upload } from './transfer';

/** Everything one run measured. */
export interface RunMeasurement {
  direct: Download;
  cold: Download;
  warm: Download;
  put: Upload;
  coldMemory: MemorySpan;
  warmMemory: MemorySpan;
  putMemory: MemorySpan;
}

/** What was measured where: the code's revision, the cores and the 1-minute load average. */
export interface BenchContext {
  /** The revision, or the revisions at the start and the end when the code changed. */
  revision: string;
  cores: number;
  loadBefore: number;
  loadAfter: number;
}

/** The targets, as throughput ratios to direct and a memory ratio to the bare put. */
export const TARGETS = { coldRatio: 0.7, warmRatio: 0.9, memoryRatio: 1 } as const;

const MIB = 1024 * 1024;

/** The report for `runs` of a `bytes`-long blob, as lines of plain text. */
export function formatReport(bytes: number, runs: RunMeasurement[], context: BenchContext) {
  return [
    `hocker-edge bench: one ${(bytes / MIB).toFixed(1)} MiB blob (${bytes} bytes), ` +
      `${runs.length} runs, each figure median [min .. max]`,
    `code: ${context.revision}`,
    `machine: ${context.cores} cores, 1-minute load average ${context.loadBefore.toFixed(2)} ` +
      `before, ${context.loadAfter.toFixed(2)} after`,
    '',
    timingSection(bytes, runs),
    '',
    ratioSection(runs),
    '',
    memorySection(runs),
  ].join('\n');
}

function timingSection(bytes: number, runs: RunMeasurement[]): string {
  const row = (name: string, transfers: (Download | Upload)[]) => {
    const seconds = transfers.map((t) => t.wallMs / 1000);
    const throughput = seconds.map((s) => bytes / MIB / s);
    const ttfb = transfers.map((t) => ('ttfbMs' in t ? t.ttfbMs : null));
    const ttfbCell = ttfb.includes(null) ? '-' : range(ttfb as number[], 1);
    return [name, range(seconds, 2), range(throughput, 0), ttfbCell];
  };
  const direct = runs.map((run) => run.direct);
  const cold = runs.map((run) => run.cold);
  const warm = runs.map((run) => run.warm);
  const put = runs.map((run) => run.put);

  return table([
    ['path', 'wall s', 'MiB/s', 'TTFB ms'],
    row('registry direct', direct),
    row('edge cold (upstream)', cold),
    row('edge warm (R2)', warm),
    row('bare R2 put (upload)', put),
  ]);
}

// Per-run ratios: the registry and the edge are measured back to back in each run.
function ratioSection(runs: RunMeasurement[]): string {
  const cold = runs.map((run) => run.direct.wallMs / run.cold.wallMs);
  const warm = runs.map((run) => run.direct.wallMs / run.warm.wallMs);
  const row = (name: string, ratios: number[], target: number) => {
    const met = median(ratios) >= target;
    return [name, range(ratios, 2), verdict(met, '≥', target)];
  };

  return [
    'throughput ratio = edge MiB/s ÷ direct MiB/s in the same run (≥ 1: the edge is as fast)',
    table([
      row('edge cold ÷ direct', cold, TARGETS.coldRatio),
      row('edge warm ÷ direct', warm, TARGETS.warmRatio),
    ]),
  ].join('\n');
}

function memorySection(runs: RunMeasurement[]): string {
  const growth = (span: MemorySpan) => (span.peakKiB - span.beforeKiB) / 1024;
  const row = (name: string, spans: MemorySpan[]) => {
    const before = spans.map((span) => span.beforeKiB / 1024);
    const peak = spans.map((span) => span.peakKiB / 1024);
    return [name, range(before, 0), range(peak, 0), range(spans.map(growth), 0)];
  };
  const cold = runs.map((run) => run.coldMemory);
  const warm = runs.map((run) => run.warmMemory);
  const put = runs.map((run) => run.putMemory);
  // A bare put that grew by nothing measurable would make any growth an infinite ratio.
  const ratio = median(cold.map(growth)) / Math.max(median(put.map(growth)), 1 / 1024);
  const target = verdict(ratio <= TARGETS.memoryRatio, '≤', TARGETS.memoryRatio);

  return [
    "worker memory, MiB: summed RSS of the worker's workerd processes (growth = peak − before)",
    table([
      ['', 'before', 'peak', 'growth'],
      row('edge cold pull', cold),
      row('edge warm pull', warm),
      row('bare R2 put', put),
    ]),
    table([['edge cold growth ÷ bare put growth', ratio.toFixed(2), target]]),
  ].join('\n');
}

function verdict(met: boolean, relation: string, goal: number): string {
  return `target ${relation} ${goal}: ${met ? 'met' : 'MISSED'}`;
}

function median(values: number[]): number {
  return summarize(values).median;
}

function range(values: number[], digits: number): string {
  const { median: middle, min, max } = summarize(values);

  return `${middle.toFixed(digits)} [${min.toFixed(digits)} .. ${max.toFixed(digits)}]`;
}

// Left-aligned columns two spaces apart, indented by two.
function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) =>
    Math.max(...rows.map((row) => (row[column] ?? '').length)),
  );

  return rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join('  ')
        .trimEnd(),
    )
    .map((line) => `  ${line}`)
    .join('\n');
}
