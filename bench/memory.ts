/**
 * Peak memory of a set of processes while something runs: their summed RSS is sampled, and
 * each process's kernel-kept peak (VmHWM) is reset before and read after, which catches a
 * peak shorter than the sampling interval.
 */
import { type ProcessInfo, readMemory, resetPeakMemory } from './processes';

/** Memory of a process set over one measured span, in KiB, summed over the processes. */
export interface MemorySpan {
  /** RSS just before the span. */
  beforeKiB: number;
  /** The span's peak: summed VmHWM after a reset, or the highest sample if a reset failed. */
  peakKiB: number;
  /** The highest summed RSS among the samples. */
  sampledPeakKiB: number;
  samples: number;
}

/** A running measurement; `stop` ends it and answers the span (the same one if repeated). */
export interface MemoryWatch {
  stop(): MemorySpan;
}

// Often enough to see a transfer's plateau; each sample is one small /proc read a process.
const SAMPLE_INTERVAL_MS = 10;

/** Starts watching `processes`' memory from now. */
export function watchMemory(processes: ProcessInfo[]): MemoryWatch {
  const pids = processes.map((info) => info.pid);
  const resetAll = pids.map(resetPeakMemory).every(Boolean);
  const beforeKiB = sumRss(pids);
  let sampledPeakKiB = beforeKiB;
  let samples = 1;
  const timer = setInterval(() => {
    sampledPeakKiB = Math.max(sampledPeakKiB, sumRss(pids));
    samples++;
  }, SAMPLE_INTERVAL_MS);
  // A benchmark that fails mid-transfer must still be able to exit.
  timer.unref();

  let span: MemorySpan | undefined;

  return {
    stop: () => {
      if (span !== undefined) return span;

      clearInterval(timer);
      sampledPeakKiB = Math.max(sampledPeakKiB, sumRss(pids));
      const hwmKiB = pids.reduce((sum, pid) => sum + (readMemory(pid)?.hwmKiB ?? 0), 0);
      const peakKiB = resetAll ? Math.max(hwmKiB, sampledPeakKiB) : sampledPeakKiB;
      span = { beforeKiB, peakKiB, sampledPeakKiB, samples: samples + 1 };

      return span;
    },
  };
}

function sumRss(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + (readMemory(pid)?.rssKiB ?? 0), 0);
}
