/**
 * The Nix spellings of a registry digest. A blob's Nix hash (flat sha256 of the bytes as
 * served) is its registry digest re-encoded, so no blob has to be read to write an expression.
 */
import { digestBytes, type Digest } from '../digest';
import { toNixBase32 } from './base32';
import { toSri, type Sri } from './sri';

/** The two ways a Nix file can state a sha256: `sha256 = nix32` or `hash = sri`. */
export interface NixHashes {
  /** 52 characters of Nix base32, what `nix-hash --type sha256 --to-base32` prints. */
  readonly nix32: string;
  /** `sha256-` and padded standard base64, what `nix hash to-sri` prints. */
  readonly sri: Sri;
}

/** Both Nix spellings of `digest`. */
export function nixHashes(digest: Digest): NixHashes {
  const bytes = digestBytes(digest);

  return { nix32: toNixBase32(bytes), sri: toSri(bytes) };
}
