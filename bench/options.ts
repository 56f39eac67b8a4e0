/**
 * The benchmark's command line: `--bytes N` (or `BENCH_BYTES`), `--runs N`, and
 * `--timeout-seconds N` for any one transfer.
 */
import { parseArgs } from 'node:util';

/** What one benchmark run measures. */
export interface BenchOptions {
  /** The blob's size; the layer built from it is this long when it is a multiple of 512. */
  bytes: number;
  /** How many times each of direct, edge cold, edge warm and bare put is measured. */
  runs: number;
  /** A transfer still going after this long fails the benchmark instead of hanging it. */
  timeoutMs: number;
}

/** The usage line printed with any option error. */
export const USAGE =
  'usage: npm run bench -- [--bytes N] [--runs N] [--timeout-seconds N]' +
  ' (BENCH_BYTES=N also sets the size)';

const DEFAULT_BYTES = 512 * 1024 * 1024;
const DEFAULT_RUNS = 5;
const DEFAULT_TIMEOUT_SECONDS = 300;

// randomTarLayerFile needs room for a tar header and the two end blocks.
const MIN_BYTES = 3 * 512;

/** Parses `argv` (after the script name) and `env`; throws with the usage on a bad value. */
export function parseBenchOptions(argv: string[], env: NodeJS.ProcessEnv): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      bytes: { type: 'string' },
      runs: { type: 'string' },
      'timeout-seconds': { type: 'string' },
    },
  });
  const bytes = positiveInteger('--bytes', values.bytes ?? env.BENCH_BYTES, DEFAULT_BYTES);
  if (bytes < MIN_BYTES) throw new Error(`--bytes must be at least ${MIN_BYTES}\n${USAGE}`);

  const runs = positiveInteger('--runs', values.runs, DEFAULT_RUNS);
  const timeout = values['timeout-seconds'];
  const timeoutSeconds = positiveInteger('--timeout-seconds', timeout, DEFAULT_TIMEOUT_SECONDS);

  return { bytes, runs, timeoutMs: timeoutSeconds * 1000 };
}

function positiveInteger(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;

  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value <= 0) {
    throw new Error(`${name} takes a positive integer, got '${raw}'\n${USAGE}`);
  }

  return value;
}
