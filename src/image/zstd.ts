/**
 * zstd decompression as a stream. workerd's DecompressionStream knows gzip and deflate only,
 * and BuildKit writes zstd layers (OCI `+zstd`, and Docker's unofficial `.tar.zstd`), so a
 * small pure-JS decoder (fzstd) fills the gap for docker archives.
 */
import { Decompress } from 'fzstd';

/** A stream that decompresses zstd frames, failing on corrupt input. */
export function zstdDecompression(): TransformStream<Uint8Array, Uint8Array> {
  let out: TransformStreamDefaultController<Uint8Array> | undefined;
  // fzstd may hand out views of its own window buffer, which it reuses: copy each chunk.
  const decoder = new Decompress((chunk) => out?.enqueue(chunk.slice()));

  return new TransformStream<Uint8Array, Uint8Array>({
    start(controller) {
      out = controller;
    },
    transform(chunk) {
      decoder.push(chunk);
    },
    flush() {
      decoder.push(new Uint8Array(0), true);
    },
  });
}
