/**
 * Linux process facts read from /proc: who descends from whom, and how much memory each
 * holds now and at its peak. Only reads, plus resetting the peak of processes we started.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

/** One process as /proc/<pid>/stat describes it. */
export interface ProcessInfo {
  pid: number;
  ppid: number;
  /** The command name, e.g. `workerd` or `node`. */
  comm: string;
  /** Clock ticks after boot: with the pid, it tells this process from a later one. */
  startTime: number;
}

/** Resident memory of one process, in KiB: now (VmRSS) and its peak (VmHWM). */
export interface ProcessMemory {
  rssKiB: number;
  hwmKiB: number;
}

/** The process `pid`, or null once it has exited. */
export function readProcess(pid: number): ProcessInfo | null {
  const stat = readProc(`/proc/${pid}/stat`);
  if (stat === null) return null;

  // The command name sits in parentheses and may hold spaces or ')': fields follow the last.
  const close = stat.lastIndexOf(')');
  const fields = stat.slice(close + 2).split(' ');

  return {
    pid,
    comm: stat.slice(stat.indexOf('(') + 1, close),
    ppid: Number(fields[1]),
    startTime: Number(fields[19]),
  };
}

/** `rootPid` and every process descending from it, parents before children. */
export function processTree(rootPid: number): ProcessInfo[] {
  const all = readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map((name) => readProcess(Number(name)))
    .filter((info): info is ProcessInfo => info !== null);
  const root = all.find((info) => info.pid === rootPid);
  if (root === undefined) return [];

  const tree = [root];
  for (let i = 0; i < tree.length; i++) {
    const parent = tree[i]!.pid;
    tree.push(...all.filter((info) => info.ppid === parent));
  }

  return tree;
}

/** Whether `info`'s process is still the one running under its pid. */
export function isRunning(info: ProcessInfo): boolean {
  return readProcess(info.pid)?.startTime === info.startTime;
}

/** The process's current and peak resident memory, or null once it has exited. */
export function readMemory(pid: number): ProcessMemory | null {
  const status = readProc(`/proc/${pid}/status`);
  if (status === null) return null;

  return { rssKiB: statusKiB(status, 'VmRSS'), hwmKiB: statusKiB(status, 'VmHWM') };
}

/**
 * Sets the process's VmHWM back to its current RSS (Linux `clear_refs` value 5), so that the
 * next peak read covers only what happens after. False when the kernel refused.
 */
export function resetPeakMemory(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

function statusKiB(status: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);

  return match === null ? 0 : Number(match[1]);
}

// A process can exit between listing and reading; that reads as "no such process".
function readProc(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}
