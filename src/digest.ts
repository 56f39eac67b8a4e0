/**
 * Content digests. Only sha256 is accepted: it is what every registry serves, what Nix's
 * `fetchurl` hashes with, and what R2 can check on `put`.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { fail } from './errors';

/** A validated `sha256:<64 lowercase hex>` string. */
export type Digest = string & { readonly __brand: 'Digest' };

const DIGEST = /^sha256:[a-f0-9]{64}$/;

/** Whether `value` is a well-formed sha256 digest. */
export function isDigest(value: string): value is Digest {
  return DIGEST.test(value);
}

/** Parses a digest, or throws `DIGEST_INVALID` saying what is wrong with it. */
export function parseDigest(value: string): Digest {
  if (isDigest(value)) return value;

  // Only a well-formed algorithm of the OCI grammar is "unsupported"; the rest is malformed.
  const algorithm = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):[a-zA-Z0-9=_-]+$/.exec(value)?.[1];
  if (algorithm !== undefined && algorithm !== 'sha256') {
    throw fail.unsupported(`digest algorithm '${algorithm}' is not supported; use sha256`);
  }
  throw fail.digestInvalid(`'${value}' is not a digest of the form sha256:<64 lowercase hex>`);
}

/** The 64 hex characters of a digest. */
export function digestHex(digest: Digest): string {
  return digest.slice('sha256:'.length);
}

/** The digest of a 64-hex string, or throws `DIGEST_INVALID`. */
export function digestFromHex(hex: string): Digest {
  return parseDigest(`sha256:${hex}`);
}

/** The digest of bytes held in memory (manifests and other small documents, never blobs). */
export function digestOfBytes(bytes: Uint8Array): Digest {
  return `sha256:${bytesToHex(sha256(bytes))}` as Digest;
}

/** The raw 32 bytes behind a digest. */
export function digestBytes(digest: Digest): Uint8Array {
  const hex = digestHex(digest);
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}
