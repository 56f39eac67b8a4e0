/**
 * Verified streaming. Bytes from upstream pass through `verifiedStream` on their way to the
 * caller (and, optionally, to a cache writer): they are hashed natively as they pass, counted,
 * and the stream only ends cleanly once the digest and length are proven right. A wrong byte,
 * a short or long body, or a cut connection errors the caller's stream and aborts the writer,
 * so a truncated or corrupt body is never completed and never cached.
 */
import { bytesToHex } from '@noble/hashes/utils.js';
import { type Digest, digestHex } from '../digest';

/** Why a stream failed verification: what was expected, what arrived, after how many bytes. */
export class VerificationError extends Error {
  constructor(
    readonly expected: Digest,
    readonly expectedSize: number | null,
    readonly actual: string | null,
    readonly received: number,
  ) {
    super(
      actual === null
        ? `blob ${expected}: expected ${expectedSize} bytes, received more than that`
        : `blob ${expected}: received ${received} bytes hashing to sha256:${actual}` +
            (expectedSize === null ? '' : ` (expected ${expectedSize} bytes)`),
    );
    this.name = 'VerificationError';
  }
}

/** Where verified bytes also go: a cache writer and what to do once verification settles. */
export interface VerifiedSink {
  writable: WritableStream<Uint8Array>;
}

/**
 * A stream that yields `source`'s bytes, failing instead of ending if they do not hash to
 * `expected` or their count differs from `size` (when known). Each chunk is handed to the
 * hasher and to `sink` before it is handed on, and the next upstream read waits for the
 * caller to ask: backpressure holds on both sides and nothing buffers the blob.
 *
 * The last chunk is held back until the digest is proven. Without that, a caller that counts
 * bytes against Content-Length would already hold a complete-looking (corrupt) body when the
 * stream fails, and could not tell it from a good one.
 */
export function verifiedStream(
  source: ReadableStream<Uint8Array>,
  expected: Digest,
  size: number | null,
  sink?: VerifiedSink,
): ReadableStream<Uint8Array> {
  const reader = blockReader(source);
  const hasher = new crypto.DigestStream('SHA-256');
  const hash = hasher.getWriter();
  const cache = sink?.writable.getWriter();
  let received = 0;
  let held: Uint8Array | null = null;
  const watchdog = stallWatchdog(reader);

  const abandon = async (reason: unknown) => {
    watchdog.stop();
    await Promise.allSettled([reader.cancel(reason), hash.abort(reason), cache?.abort(reason)]);
  };

  const finish = async (controller: ReadableStreamDefaultController<Uint8Array>) => {
    watchdog.stop();
    if (watchdog.stalled !== null) throw watchdog.stalled;
    await hash.close();
    const actual = bytesToHex(new Uint8Array(await hasher.digest));
    if (actual !== digestHex(expected) || (size !== null && received !== size)) {
      throw new VerificationError(expected, size, actual, received);
    }
    await cache?.close();
    if (held !== null) controller.enqueue(held);
    controller.close();
  };

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          // Read until there is a chunk to hand on, or the end: an empty read hands nothing.
          for (;;) {
            const { done, value } = await reader.read();
            if (done) return await finish(controller);
            if (value.byteLength === 0) continue;
            watchdog.progress();

            received += value.byteLength;
            if (size !== null && received > size) {
              throw new VerificationError(expected, size, null, received);
            }
            await Promise.all([hash.write(value), cache?.write(value)]);

            const previous = held;
            held = value;
            if (previous !== null) return controller.enqueue(previous);
          }
        } catch (error) {
          await abandon(error);
          controller.error(error);
        }
      },
      async cancel(reason) {
        await abandon(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

// An upstream that stops sending mid-body would otherwise hold the caller forever.
const STALL_MS = 60_000;

/**
 * Cancels `reader` once nothing has arrived for `STALL_MS`. One timer checks now and then, so
 * a chunk costs only a clock read: sources hand over bytes 4 KiB at a time.
 */
function stallWatchdog(reader: { cancel(reason?: unknown): Promise<void> }) {
  let last = Date.now();
  const state = {
    stalled: null as Error | null,
    progress: () => {
      last = Date.now();
    },
    stop: () => clearInterval(timer),
  };
  const timer = setInterval(() => {
    if (Date.now() - last < STALL_MS) return;
    state.stalled = new Error(`upstream sent nothing for ${STALL_MS / 1000} s`);
    state.stop();
    reader.cancel(state.stalled).catch(() => undefined);
  }, STALL_MS / 4);
  return state;
}

// Runtime bodies arrive in 4 KiB chunks, and every chunk costs several awaits in the loop
// above; reading blocks of up to 1 MiB makes the per-chunk cost vanish. Blocks of 128 KiB
// made a warm pull a quarter faster locally (each read allocates its whole block), but with
// them the storage request after a 256 MiB cold pull now and then never answered in local
// R2 (about one suite run in three; never in many runs with 1 MiB), so 1 MiB it stays.
const BLOCK_MIN = 64 * 1024;
const BLOCK_MAX = 1024 * 1024;

/** A reader of `source` in large blocks where the runtime allows it (byte streams). */
function blockReader(source: ReadableStream<Uint8Array>) {
  let byob: ReadableStreamBYOBReader;
  try {
    byob = source.getReader({ mode: 'byob' });
  } catch {
    return source.getReader();
  }

  return {
    async read(): Promise<ReadableStreamReadResult<Uint8Array>> {
      const result = await byob.readAtLeast(BLOCK_MIN, new Uint8Array(BLOCK_MAX));
      if (result.value !== undefined && result.value.byteLength > 0) {
        return { done: false, value: result.value };
      }
      return { done: true, value: undefined };
    },
    cancel: (reason?: unknown) => byob.cancel(reason),
  };
}
