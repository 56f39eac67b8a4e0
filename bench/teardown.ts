/**
 * Everything the benchmark started, to stop in reverse order: at the end, on an error, or
 * on Ctrl-C. A failing step is reported and the others still run.
 */

/** A stack of stop steps. */
export class Teardown {
  private readonly steps: { name: string; run: () => Promise<void> }[] = [];
  private readonly running = new Set<Promise<void>>();
  private draining: Promise<void> | null = null;

  /** Adds a step; the returned function runs it now (once) and takes it off the stack. */
  add(name: string, run: () => Promise<void>): () => Promise<void> {
    const step = { name, run };
    this.steps.push(step);

    return async () => {
      const index = this.steps.indexOf(step);
      if (index === -1) return;

      this.steps.splice(index, 1);
      const done = run();
      this.running.add(done);
      try {
        await done;
      } finally {
        this.running.delete(done);
      }
    };
  }

  /**
   * Runs every remaining step, newest first, and waits for steps already running. A second
   * call (Ctrl-C while an error is being cleaned up) waits for the same work instead of
   * racing it to the exit.
   */
  runAll(): Promise<void> {
    this.draining ??= this.drain();

    return this.draining;
  }

  private async drain(): Promise<void> {
    while (this.steps.length > 0) {
      const step = this.steps.pop()!;
      try {
        await step.run();
      } catch (error) {
        console.error(`bench: could not stop ${step.name}: ${String(error)}`);
      }
    }
    await Promise.allSettled([...this.running]);
  }
}
