import { join } from 'node:path';
import { startDaemon } from './daemon';
import { freePort } from './ports';
import { makeTempDir, removeTempDir } from './temp';

/** A hocker-edge worker running in workerd, started exactly as `npm start` starts it. */
export interface StartedEdge {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** Where its local KV and R2 live. */
  stateDir: string;
  /** Everything the worker and wrangler printed so far (the request log lines among it). */
  output(): string;
  /** Stops the worker; its state stays until `stop({ keepState: false })`. */
  stop(options?: { keepState?: boolean }): Promise<void>;
}

/** Options for `startEdge`. */
export interface EdgeOptions {
  /** The `REGISTRIES` entries, e.g. `http://127.0.0.1:5000`. */
  registries: string[];
  /** Other vars, as `--var KEY:VALUE`. */
  vars?: Record<string, string>;
  /** Reuse a state directory (to see what a previous edge stored). */
  stateDir?: string;
}

const ROOT = new URL('../..', import.meta.url).pathname;
const READY_TIMEOUT_MS = 60_000;
/** How much of its output an edge keeps; a longer output has lost its beginning. */
export const EDGE_OUTPUT_LIMIT = 64 * 1024 * 1024;

/**
 * Starts `node scripts/start.mjs` (what `npm start` runs) on a free port with its own state
 * directory, and resolves once it says it is ready.
 */
export async function startEdge(options: EdgeOptions): Promise<StartedEdge> {
  const stateDir = options.stateDir ?? (await makeTempDir('edge-state'));
  // A free port can be taken by another suite's process before the edge binds it (and each
  // edge also takes an ephemeral port for workerd): then it is tried again on another one.
  for (let attempt = 1; ; attempt++) {
    const started = await launch(options, stateDir);
    if ('url' in started) return started;
    if (!started.portTaken || attempt === PORT_ATTEMPTS) {
      throw new Error(`hocker-edge did not start:\n${started.output}`);
    }
  }
}

const PORT_ATTEMPTS = 3;

async function launch(
  options: EdgeOptions,
  stateDir: string,
): Promise<StartedEdge | { portTaken: boolean; output: string }> {
  const port = await freePort();
  const vars = { REGISTRIES: options.registries.join(','), ...options.vars };
  const args = [
    join(ROOT, 'scripts/start.mjs'),
    '--port',
    String(port),
    '--persist-to',
    stateDir,
    ...Object.entries(vars).flatMap(([key, value]) => ['--var', `${key}:${value}`]),
  ];

  // The whole log is kept: tests search it for anything secret that must not be there.
  const daemon = startDaemon(process.execPath, args, ROOT, EDGE_OUTPUT_LIMIT);
  const stop = async ({ keepState = true } = {}) => {
    await daemon.stop(10_000);
    if (!keepState) await removeTempDir(stateDir);
  };

  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!daemon.output().includes('hocker-edge ready on')) {
    if (daemon.exited() || Date.now() > deadline) {
      await stop();
      const output = daemon.output();
      return { portTaken: output.includes(`cannot listen on 127.0.0.1:${port}`), output };
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  return { url: `http://127.0.0.1:${port}`, stateDir, output: daemon.output, stop };
}

/** The JSON log lines an edge printed for `event` (`request`, `image-streamed`, ...). */
export function loggedEvents(edge: StartedEdge, event: string): Record<string, unknown>[] {
  return edge
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{') && line.includes(`"event":"${event}"`))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}
