import { createHash } from 'node:crypto';

/** A blob built by the harness: small ones in memory (`bytes`), big ones on disk (`path`). */
export interface BuiltBlob {
  digest: string;
  size: number;
  mediaType: string;
  bytes?: Uint8Array;
  path?: string;
  annotations?: Record<string, string>;
}

/** A layer blob, with the digest of its uncompressed tar that the config lists. */
export interface LayerBlob extends BuiltBlob {
  diffId: string;
}

/** `sha256:<hex>` of some bytes. */
export function sha256Digest(bytes: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Describes in-memory bytes as a blob of `mediaType`. */
export function blobFromBytes(bytes: Uint8Array, mediaType: string): BuiltBlob {
  return { digest: sha256Digest(bytes), size: bytes.length, mediaType, bytes };
}

/** Serializes `value` as indented JSON bytes, the way a registry stores them verbatim. */
export function jsonBytes(value: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(value, null, 2), 'utf8');
}
