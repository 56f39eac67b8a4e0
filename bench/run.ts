/**
 * One benchmark run: the blob straight from the registry, then through a freshly started
 * edge cold and warm, then into a freshly started bare-put worker. Every worker a run starts
 * is stopped before the run returns or throws.
 */
import { join } from 'node:path';
import type { BuiltBlob } from '../test/harness/blob';
import type { StartedRegistry } from '../test/harness/registry';
import { isCached, resolveOnEdge, waitUntilCached } from './edge-cache';
import type { BenchImage } from './fixture';
import { type LaunchedWorker, launchWorker, ROOT } from './launch';
import { type MemorySpan, watchMemory } from './memory';
import type { BenchOptions } from './options';
import type { RunMeasurement } from './report';
import type { Teardown } from './teardown';
import { type Download, timedDownload, timedUpload } from './transfer';

/** What every run stands on: the registry holding the image, and the stop steps. */
export interface Setup {
  options: BenchOptions;
  registry: StartedRegistry;
  image: BenchImage;
  teardown: Teardown;
}

/** A reload, not the edge, cut a transfer: the run says nothing about the edge. */
export class ReloadedError extends Error {}

const EDGE_SCRIPT = join(ROOT, 'scripts/start.mjs');
// The bare-put worker starts exactly as the edge does, from its own wrangler.toml.
const BARE_PUT_CONFIG = ['--config', join(ROOT, 'bench/bare-put/wrangler.toml')];

/**
 * Measures direct, cold and warm in turn, so that any drift of the machine touches all three
 * alike, then the bare put. Each run starts a new edge on a new state directory: its R2 is
 * empty and the pull truly cold.
 */
export async function measureRun(setup: Setup): Promise<RunMeasurement> {
  const { options, registry, image } = setup;
  const { layer } = image;
  const directUrl = `${registry.url}/v2/${image.repository}/blobs/${layer.digest}`;
  const direct = expectBlob(await timedDownload(directUrl, options.timeoutMs), layer, directUrl);
  const edge = await withWorker(setup, 'the edge', EDGE_SCRIPT, registryVar(registry), (worker) =>
    measureEdge(setup, worker),
  );
  const bare = await withWorker(
    setup,
    'the bare-put worker',
    EDGE_SCRIPT,
    BARE_PUT_CONFIG,
    (worker) => measureBarePut(setup, worker),
  );

  return { direct, ...edge, ...bare };
}

type EdgeMeasurement = Pick<RunMeasurement, 'cold' | 'warm' | 'coldMemory' | 'warmMemory'>;

async function measureEdge(setup: Setup, edge: LaunchedWorker): Promise<EdgeMeasurement> {
  const { options, registry, image } = setup;
  const { layer } = image;
  await resolveOnEdge(edge.url, registry.host, image);
  if (await isCached(edge.url, layer.digest)) throw new Error('a fresh edge has the blob');

  const url = `${edge.url}/v2/${registry.host}/${image.repository}/blobs/${layer.digest}`;
  const download = async () => {
    const got = await explainReload(timedDownload(url, options.timeoutMs), edge);
    return expectBlob(got, layer, url);
  };
  const [cold, coldMemory] = await whileWatching(edge, download);
  await waitUntilCached(edge.url, layer.digest);
  const [warm, warmMemory] = await whileWatching(edge, download);
  // A reload between or during the transfers replaced the worker's process: not one run.
  if (reloaded(edge)) throw new ReloadedError('the edge reloaded during the run');

  return { cold, warm, coldMemory, warmMemory };
}

type PutMeasurement = Pick<RunMeasurement, 'put' | 'putMemory'>;

async function measureBarePut(setup: Setup, bare: LaunchedWorker): Promise<PutMeasurement> {
  const { image, options } = setup;
  const { layer } = image;
  const upload = () => timedUpload(`${bare.url}/blob`, layer.path, layer.size, options.timeoutMs);
  const [put, putMemory] = await whileWatching(bare, async () => {
    const answer = await explainReload(upload(), bare);
    if (answer.status !== 200) throw new Error(`bare put answered ${answer.status}`);
    return answer;
  });

  return { put, putMemory };
}

/** Starts a worker, runs `measure` with it, and stops it whatever happened. */
async function withWorker<T>(
  setup: Setup,
  name: string,
  script: string,
  args: string[],
  measure: (worker: LaunchedWorker) => Promise<T>,
): Promise<T> {
  const worker = await launchWorker(script, args);
  const stop = setup.teardown.add(name, worker.stop);
  try {
    return await measure(worker);
  } finally {
    await stop();
  }
}

async function whileWatching<T>(
  worker: LaunchedWorker,
  transfer: () => Promise<T>,
): Promise<[T, MemorySpan]> {
  const watch = watchMemory(worker.workerd());
  try {
    const result = await transfer();
    return [result, watch.stop()];
  } finally {
    // Also after a failed transfer: its sampling timer must not outlive it.
    watch.stop();
  }
}

function registryVar(registry: StartedRegistry): string[] {
  return ['--var', `REGISTRIES:http://${registry.host}`];
}

/**
 * Whether wrangler reloaded the worker: its bundler watches the worker's sources even with
 * `watch: false` and restarts the worker when one changes, cutting any transfer under way.
 */
function reloaded(worker: LaunchedWorker): boolean {
  return worker.output().includes('Reloading local server');
}

/** A transfer that a reload cut fails with `ReloadedError`, not a bare "socket hang up". */
async function explainReload<T>(transfer: Promise<T>, worker: LaunchedWorker): Promise<T> {
  try {
    return await transfer;
  } catch (error) {
    if (!reloaded(worker)) throw error;

    throw new ReloadedError(`the worker reloaded mid-transfer (a source changed): ${error}`);
  }
}

/** A timing of wrong bytes means nothing: anything but the whole blob stops the benchmark. */
function expectBlob(download: Download, blob: BuiltBlob, url: string): Download {
  const { status, bytes, digest } = download;
  if (status !== 200 || bytes !== blob.size || digest !== blob.digest) {
    const got = `${status}, ${bytes} bytes, ${digest}`;
    throw new Error(`GET ${url}: got ${got}; want 200, ${blob.size} bytes, ${blob.digest}`);
  }

  return download;
}
