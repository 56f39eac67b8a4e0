/**
 * Subresource-integrity hashes (`sha256-<base64>`), the `hash = "..."` form that Nix's
 * `fetchurl` accepts next to the base32 `sha256`.
 */

/** A `sha256-<44 base64 chars>` string, as `nix hash to-sri` prints it. */
export type Sri = `sha256-${string}`;

const SHA256_BYTES = 32;

/** The SRI form of a raw sha256; throws a `RangeError` unless `bytes` has 32 bytes. */
export function toSri(bytes: Uint8Array): Sri {
  if (bytes.length !== SHA256_BYTES) {
    throw new RangeError(`a sha256 has ${SHA256_BYTES} bytes, got ${bytes.length}`);
  }

  // btoa takes a "binary string" (one char per byte); 32 bytes make that cheap and safe,
  // and it exists in Workers and Node alike.
  return `sha256-${btoa(String.fromCharCode(...bytes))}`;
}
