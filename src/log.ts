/**
 * The one structured logger: a JSON line per request, plus JSON lines for background work
 * (cache writes finishing after the response). Only paths are logged, never query strings,
 * headers or bodies, so no credential or signed URL can reach the logs.
 */

/** How a request was served; a closed set so logs can be counted by it. */
export type Outcome =
  'hit' | 'miss' | 'rendered' | 'client-error' | 'upstream-error' | 'internal-error';

/** Facts gathered while one request is handled, written once when it ends. */
export class RequestLog {
  private readonly started = Date.now();
  private upstreamMs = 0;
  private upstreamRequests = 0;
  private fields: Record<string, string | number | boolean> = {};

  /** Records one upstream round trip and how long it took. */
  upstream(ms: number): void {
    this.upstreamRequests++;
    this.upstreamMs += ms;
  }

  /** Adds facts such as the reference, digest or cache outcome. */
  set(fields: Record<string, string | number | boolean | undefined>): void {
    for (const [key, value] of Object.entries(fields)) {
      if (value !== undefined) this.fields[key] = value;
    }
  }

  /** Writes the request's line. */
  finish(method: string, path: string, status: number): void {
    const line = {
      event: 'request',
      method,
      path: redactPath(path),
      status,
      ms: Date.now() - this.started,
      upstreamRequests: this.upstreamRequests,
      upstreamMs: this.upstreamMs,
      ...this.fields,
    };
    console.info(JSON.stringify(line));
  }
}

/** Logs something that happened outside a request's answer, such as a failed cache write. */
export function logEvent(
  level: 'info' | 'warn' | 'error',
  event: string,
  fields: Record<string, string | number | boolean | undefined> = {},
): void {
  const line = JSON.stringify({ event, ...fields });
  if (level === 'error') console.error(line);
  else if (level === 'warn') console.warn(line);
  else console.info(line);
}

// Paths never carry secrets by design, but a mistyped URL might; cap what one line can hold.
function redactPath(path: string): string {
  return path.length > 512 ? `${path.slice(0, 512)}…` : path;
}
