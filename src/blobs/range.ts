/**
 * Byte ranges on blobs (RFC 9110 §14): one `bytes=` range per request, which is all that
 * container clients send to resume a download. Several ranges, or a header that does not
 * parse, are ignored and the whole blob is served, as the RFC allows.
 */
import { EdgeError } from '../errors';

/** A satisfiable range, both ends inclusive, within a blob of `size` bytes. */
export interface ByteRange {
  start: number;
  end: number;
  size: number;
}

/**
 * The range `header` asks for in a blob of `size` bytes; null for none (serve it whole), or
 * a 416 `EdgeError` carrying `Content-Range: bytes *\/size` when nothing of it is in the blob.
 */
export function parseRange(header: string | null, size: number): ByteRange | null {
  const match = header === null ? null : /^\s*bytes=(\d*)-(\d*)\s*$/i.exec(header);
  if (match === null) return null;

  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return null;

  let start: number;
  let end: number;
  if (first === '') {
    start = Math.max(0, size - Number(last));
    end = size - 1;
    if (Number(last) === 0) throw unsatisfiable(size);
  } else {
    start = Number(first);
    end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
    if (last !== '' && Number(last) < start) return null;
  }

  if (start >= size) throw unsatisfiable(size);
  return { start, end, size };
}

function unsatisfiable(size: number): EdgeError {
  return new EdgeError(
    'RANGE_INVALID',
    416,
    `the requested range is not within the blob's ${size} bytes`,
    undefined,
    { 'Content-Range': `bytes */${size}` },
  );
}

/**
 * The bytes `range` selects from `source`, a stream of the whole blob. `source` is read to its
 * end even past the range, and the last selected chunk is held until it ends: a whole-blob
 * verifier upstream of this stream thereby still decides whether the range ends cleanly.
 */
export function sliceStream(
  source: ReadableStream<Uint8Array>,
  range: ByteRange,
): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  let offset = 0;
  let held: Uint8Array | null = null;

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) {
            if (held !== null) controller.enqueue(held);
            return controller.close();
          }

          const from = Math.max(range.start - offset, 0);
          const to = Math.min(range.end + 1 - offset, value.byteLength);
          offset += value.byteLength;
          if (from >= to) continue;

          const previous = held;
          held = value.subarray(from, to);
          if (previous !== null) return controller.enqueue(previous);
        }
      },
      async cancel(reason) {
        await reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}
