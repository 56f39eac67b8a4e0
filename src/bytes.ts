/**
 * Reading small bodies (manifests, error documents) into memory, always with a ceiling:
 * blobs are never read this way, they stream (see blobs/).
 */

/**
 * The whole body of `message`, or `tooLarge()` thrown as soon as it is known to exceed
 * `limit` bytes (from Content-Length, or while reading), without reading further.
 */
export async function readAtMost(
  message: Request | Response,
  limit: number,
  tooLarge: () => Error,
): Promise<Uint8Array> {
  const declared = Number(message.headers.get('Content-Length') ?? '0');
  if (declared > limit) {
    // An upstream body is let go at once; a caller's is left for the runtime to drain, so
    // that the caller, still sending, reads our answer instead of a reset connection.
    if (message instanceof Response) await message.body?.cancel();
    throw tooLarge();
  }

  const chunks: Uint8Array[] = [];
  let length = 0;
  const reader = message.body?.getReader();
  while (reader) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.byteLength;
    if (length > limit) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  return concat(chunks);
}

/** The first `limit` bytes of a body (or all of it, if shorter); the rest is discarded. */
export async function readPrefix(body: ReadableStream<Uint8Array>, limit: number) {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  while (length < limit) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    length += value.byteLength;
  }
  await reader.cancel();
  return concat(chunks).slice(0, limit);
}

/** One array holding `chunks` in order. */
export function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
