/**
 * The subrequest budget of one invocation. Cloudflare caps how many subrequests a Worker
 * invocation makes: every fetch, every redirect hop, every KV and R2 call. Past the cap the
 * runtime throws wherever the code happens to be, which may be halfway through an answer
 * that already has a status and a length. Counting them here lets the edge fail first, with
 * a clear 503 before any byte is sent, and lets a handler that streams many blobs (an image
 * archive) check that it can finish before it starts.
 */
import { EdgeError } from './errors';

/** Subrequests counted against the configured limit (`SUBREQUEST_LIMIT`). */
export class SubrequestBudget {
  private spent = 0;
  private wrote = false;

  constructor(readonly limit: number) {}

  /** Subrequests made so far. */
  get used(): number {
    return this.spent;
  }

  /** Subrequests still allowed. */
  get remaining(): number {
    return this.limit - this.spent;
  }

  /**
   * Counts one subrequest about to be made, or throws the 503 the platform would not. `write`
   * marks one that stores something (a cache write), which a retry need not do again.
   */
  spend(what: string, write = false): void {
    if (this.spent >= this.limit) throw this.exhausted(what);
    this.spent++;
    this.wrote ||= write;
  }

  /** Throws unless `count` more subrequests fit: for work that must not stop part-way. */
  require(count: number, what: string): void {
    if (count > this.remaining) throw this.exhausted(what);
  }

  // A retry goes further only if this request stored something; otherwise it would spend the
  // same subrequests on the same work and stop at the same place.
  private exhausted(what: string): EdgeError {
    if (this.wrote) return budgetExhausted(this.limit, what);

    return new EdgeError(
      'UNAVAILABLE',
      503,
      `this request needs more than the ${this.limit} subrequests one invocation may make ` +
        `(SUBREQUEST_LIMIT); it stopped before ${what} having stored nothing a retry could ` +
        'reuse, so a retry would stop there too: raise it (and [limits] subrequests) if your ' +
        'plan allows',
      { subrequestLimit: this.limit },
    );
  }
}

/**
 * The work could not finish within one invocation. What was done is kept (verified blobs,
 * facts about layers), so a retry goes further; `Retry-After` says so to curl and Nix.
 */
export function budgetExhausted(limit: number, what: string): EdgeError {
  return new EdgeError(
    'UNAVAILABLE',
    503,
    `this request needs more than the ${limit} subrequests one invocation may make ` +
      `(SUBREQUEST_LIMIT); it stopped before ${what} and kept what it had done: retry`,
    { subrequestLimit: limit },
    { 'Retry-After': '1' },
  );
}

/**
 * Even with what is cached, the work needs more subrequests than one invocation may make, so
 * a retry cannot help; only a higher limit (a plan that allows it) can.
 */
export function budgetTooSmall(limit: number, needed: number, what: string): EdgeError {
  return new EdgeError(
    'UNAVAILABLE',
    503,
    `${what} needs at least ${needed} subrequests in one invocation, more than ` +
      `SUBREQUEST_LIMIT=${limit}; raise it (and [limits] subrequests) if your plan allows`,
    { subrequestLimit: limit, needed },
  );
}
