/**
 * Nix's base32, the encoding of the `sha256 = "..."` values that `fetchurl` accepts.
 *
 * It is not RFC 4648 base32, and the two differ in ways that silently give wrong hashes:
 * - the alphabet is digits and lowercase letters without `e`, `o`, `u` and `t`;
 * - the digest is read from its last byte to its first and from the low bits of a byte up,
 *   so the first character encodes the top bits of the last byte;
 * - there is no padding: 32 bytes give exactly 52 characters, the first of which only ever
 *   carries 1 bit (the 4 surplus bits at the top must be zero).
 * See `printHash32` and `parseHash32` in Nix's `src/libutil/hash.cc`.
 */

/** The 32 digits of Nix's base32, in value order. */
export const NIX_BASE32_ALPHABET = '0123456789abcdfghijklmnpqrsvwxyz';

const DIGIT_VALUE: ReadonlyMap<string, number> = new Map(
  [...NIX_BASE32_ALPHABET].map((char, value) => [char, value]),
);

/** The number of Nix base32 characters that encode `byteLength` bytes. */
export function nixBase32Length(byteLength: number): number {
  return Math.ceil((byteLength * 8) / 5);
}

/** Encodes bytes the way `nix-hash --to-base32` does (any length; 32 bytes give 52 chars). */
export function toNixBase32(bytes: Uint8Array): string {
  let out = '';

  // Character n (counting from the end of the text) holds bits 5n..5n+4 of the digest read
  // as one little-endian number; those bits may straddle two bytes.
  for (let n = nixBase32Length(bytes.length) - 1; n >= 0; n--) {
    const bit = n * 5;
    const byte = bit >> 3;
    const shift = bit & 7;
    const low = bytes[byte]! >> shift;
    const high = byte + 1 < bytes.length ? bytes[byte + 1]! << (8 - shift) : 0;
    out += NIX_BASE32_ALPHABET[(low | high) & 0x1f];
  }

  return out;
}

/**
 * Decodes Nix base32 into `byteLength` bytes (32 for sha256), or throws a `RangeError` when
 * the text has the wrong length, a character outside the alphabet, or bits set beyond the
 * last byte (Nix rejects those too, so every digest has exactly one spelling).
 */
export function fromNixBase32(text: string, byteLength = 32): Uint8Array {
  if (text.length !== nixBase32Length(byteLength)) {
    const want = nixBase32Length(byteLength);
    throw new RangeError(`nix base32 text has ${text.length} characters, want ${want}`);
  }

  const out = new Uint8Array(byteLength);
  for (let n = 0; n < text.length; n++) {
    const char = text[text.length - 1 - n]!;
    const value = DIGIT_VALUE.get(char);
    if (value === undefined) throw new RangeError(`'${char}' is not a nix base32 digit`);
    placeDigit(out, n * 5, value);
  }

  return out;
}

/** ORs a 5-bit digit into `out` at bit offset `bit`, failing if it overflows the end. */
function placeDigit(out: Uint8Array, bit: number, value: number): void {
  const byte = bit >> 3;
  const shift = bit & 7;
  out[byte]! |= (value << shift) & 0xff;

  const carry = value >> (8 - shift);
  if (carry === 0) return;

  if (byte + 1 >= out.length) throw new RangeError('nix base32 text sets bits beyond the digest');
  out[byte + 1]! |= carry;
}
