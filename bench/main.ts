/**
 * `npm run bench`: how fast and how lean the edge's blob path is next to the registry it
 * fronts. One random layer is pushed to a local CNCF registry; each run then GETs it
 * (a) straight from the registry, (b) through a freshly started edge, cold, which pulls it
 * from upstream and writes it into R2, and (c) through the same edge again, warm, from R2;
 * and (d) PUTs the same bytes into a bare R2-put worker, the yardstick for memory.
 *
 * A measurement, not a test: a missed target is printed, and only an error (wrong bytes, a
 * worker that does not start, a transfer over its timeout) makes the process fail.
 */
import { cpus, loadavg } from 'node:os';
import { startRegistry } from '../test/harness/registry';
import { makeTempDir, removeTempDir } from '../test/harness/temp';
import { pushBenchImage } from './fixture';
import { type BenchOptions, parseBenchOptions } from './options';
import { formatReport, type RunMeasurement } from './report';
import { describeRevision } from './revision';
import { measureRun, ReloadedError, type Setup } from './run';
import { Teardown } from './teardown';

// Others may be editing src/ on a shared machine; a run that a reload spoilt is measured
// again, after a pause that lets a burst of saves pass.
const RUN_ATTEMPTS = 5;
const RELOAD_PAUSE_MS = 10_000;

async function main(): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseBenchOptions(process.argv.slice(2), process.env);
  } catch (error) {
    console.error((error as Error).message);
    return 2;
  }

  const teardown = new Teardown();
  // Ctrl-C reaches us twice (from the terminal and relayed by tsx): every signal waits for
  // the same teardown, and none falls through to the default exit.
  const interrupt = () => void teardown.runAll().finally(() => process.exit(130));
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);
  try {
    const loadBefore = loadavg()[0]!;
    const revision = describeRevision();
    const setup = await prepare(options, teardown);
    const runs: RunMeasurement[] = [];
    for (let run = 1; run <= options.runs; run++) {
      runs.push(await measureRunAgainOnReload(setup));
      console.log(`run ${run}/${options.runs}: ${describeRun(runs[runs.length - 1]!)}`);
    }

    const revisionAfter = describeRevision();
    const code = revision === revisionAfter ? revision : `${revision}, then ${revisionAfter}`;
    const context = { cores: cpus().length, loadBefore, loadAfter: loadavg()[0]!, revision: code };
    console.log(`\n${formatReport(setup.image.layer.size, runs, context)}`);
    return 0;
  } finally {
    await teardown.runAll();
  }
}

async function prepare(options: BenchOptions, teardown: Teardown): Promise<Setup> {
  const registry = await startRegistry({ auth: 'none' });
  teardown.add('the registry', registry.stop);
  const dir = await makeTempDir('bench-blob');
  teardown.add('the blob file', () => removeTempDir(dir));
  console.log(`bench: pushing a random ${options.bytes}-byte layer to ${registry.host}`);
  const image = await pushBenchImage(registry, options.bytes, dir);

  return { options, registry, image, teardown };
}

async function measureRunAgainOnReload(setup: Setup): Promise<RunMeasurement> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await measureRun(setup);
    } catch (error) {
      if (!(error instanceof ReloadedError) || attempt === RUN_ATTEMPTS) throw error;

      console.log(`bench: ${error.message}; measuring this run again`);
      await new Promise((resolve) => setTimeout(resolve, RELOAD_PAUSE_MS));
    }
  }
}

function describeRun(run: RunMeasurement): string {
  const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const growth = (span: RunMeasurement['coldMemory']) =>
    `+${((span.peakKiB - span.beforeKiB) / 1024).toFixed(0)} MiB`;

  return [
    `direct ${seconds(run.direct.wallMs)}`,
    `cold ${seconds(run.cold.wallMs)} (${growth(run.coldMemory)})`,
    `warm ${seconds(run.warm.wallMs)} (${growth(run.warmMemory)})`,
    `bare put ${seconds(run.put.wallMs)} (${growth(run.putMemory)})`,
  ].join(', ');
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error('bench failed:', error);
    process.exit(1);
  },
);
