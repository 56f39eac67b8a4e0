/**
 * Starts a worker the way `npm start` starts the edge: a node script running wrangler's
 * `unstable_startWorker` (inspector off) on a free 127.0.0.1 port with a fresh state
 * directory, and knows the processes it spawned so it can measure and stop exactly them.
 * `--no-front`: the worker is measured as it runs deployed, with nothing of ours in front.
 */
import { startDaemon } from '../test/harness/daemon';
import { freePort } from '../test/harness/ports';
import { makeTempDir, removeTempDir } from '../test/harness/temp';
import { isRunning, type ProcessInfo, processTree } from './processes';

/** A worker running under its start script. */
export interface LaunchedWorker {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** The start script's node process. */
  pid: number;
  /** The workerd processes under it now: the ones that carry requests and hold the blobs. */
  workerd(): ProcessInfo[];
  /** The tail of what the script and the worker printed. */
  output(): string;
  /** Stops the script, then any process of its tree still running, and removes its state. */
  stop(): Promise<void>;
}

/** The repository root, from which the start script and the bench resolve their paths. */
export const ROOT = new URL('..', import.meta.url).pathname;

const READY = /ready on (http:\/\/\S+)/;
const READY_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 10_000;

/** Runs `node <script> --port P --persist-to DIR ...args` and resolves once it is ready. */
export async function launchWorker(script: string, args: string[]): Promise<LaunchedWorker> {
  const port = await freePort();
  const stateDir = await makeTempDir('bench-state');
  const argv = [script, '--no-front', '--port', String(port), '--persist-to', stateDir, ...args];
  const daemon = startDaemon(process.execPath, argv, ROOT);
  const seen = new Map<number, ProcessInfo>();
  const descendants = () => {
    const tree = processTree(daemon.pid).filter((info) => info.pid !== daemon.pid);
    for (const info of tree) seen.set(info.pid, info);
    return tree;
  };

  const stop = async () => {
    descendants();
    await daemon.stop(STOP_GRACE_MS);
    // A start script killed before it disposed of its worker leaves workerd behind.
    for (const info of [...seen.values()].filter(isRunning)) process.kill(info.pid, 'SIGKILL');
    await removeTempDir(stateDir);
  };

  const url = `http://127.0.0.1:${port}`;
  try {
    await waitUntilReady(daemon.output, daemon.exited);
    await answersOnce(url);
  } catch (error) {
    await stop();
    throw new Error(`${script} did not start: ${error}\n${daemon.output()}`);
  }

  return {
    url,
    pid: daemon.pid,
    workerd: () => descendants().filter((info) => info.comm === 'workerd'),
    output: daemon.output,
    stop,
  };
}

async function waitUntilReady(output: () => string, exited: () => boolean): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!READY.test(output())) {
    if (exited()) throw new Error('it exited');
    if (Date.now() > deadline) throw new Error(`not ready after ${READY_TIMEOUT_MS} ms`);

    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

// wrangler reports ready while the worker's own workerd may still be starting (its proxy
// holds requests meanwhile); any answer from the worker means its whole tree is up.
async function answersOnce(url: string): Promise<void> {
  const response = await fetch(`${url}/`, { signal: AbortSignal.timeout(READY_TIMEOUT_MS) });
  await response.body?.cancel();
}
