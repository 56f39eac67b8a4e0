import { spawn, type ChildProcess } from 'node:child_process';

// Enough of a daemon's output to explain why it failed to start, without growing forever.
const OUTPUT_LIMIT = 64 * 1024;

/** A long-running child process that we started and that only we stop. */
export interface Daemon {
  pid: number;
  /** The last 64 KiB of what it printed on stdout and stderr. */
  output(): string;
  /** Whether it has exited already. */
  exited(): boolean;
  /** Sends SIGTERM to its PID, then SIGKILL after `graceMs`, and resolves once it exited. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts `cmd` with `args` (no shell) and keeps the tail of its output: the last 64 KiB, or
 * `outputLimit` bytes for a daemon whose whole log a test reads.
 */
export function startDaemon(
  cmd: string,
  args: readonly string[],
  cwd?: string,
  outputLimit = OUTPUT_LIMIT,
): Daemon {
  const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  // Without a listener, a spawn failure would be an uncaught 'error' event.
  child.on('error', () => undefined);
  if (child.pid === undefined) throw new Error(`${cmd} did not start`);

  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-outputLimit);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exit = new Promise<void>((resolve) => child.once('close', () => resolve()));

  return {
    pid: child.pid,
    output: () => output,
    exited: () => child.exitCode !== null || child.signalCode !== null,
    stop: (graceMs = 5000) => stopChild(child, exit, graceMs),
  };
}

async function stopChild(child: ChildProcess, exit: Promise<void>, graceMs: number) {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;

  signal(child.pid, 'SIGTERM');
  const timer = setTimeout(() => signal(child.pid, 'SIGKILL'), graceMs);
  await exit;
  clearTimeout(timer);
}

// The child may exit between our check and the signal; that is the outcome we wanted.
function signal(pid: number | undefined, name: NodeJS.Signals): void {
  if (pid === undefined) return;

  try {
    process.kill(pid, name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}
