/**
 * Just enough of POSIX ustar to write docker archives: regular files with fixed owner,
 * mode and time, so that the same entries always give the same bytes.
 */

/** Size of a tar block; headers are one block, data is padded to whole blocks. */
export const BLOCK = 512;

/** The two zero blocks that end an archive. */
export const END_OF_ARCHIVE = new Uint8Array(BLOCK * 2);

/** The bytes of one file's header: name (at most 100 bytes of ASCII), size, mode 0644. */
export function fileHeader(name: string, size: number): Uint8Array {
  const header = new Uint8Array(BLOCK);
  if (name.length > 100 || !/^[\x21-\x7e]+$/.test(name)) {
    throw new Error(`tar entry name '${name}' does not fit a plain ustar header`);
  }

  writeText(header, 0, 100, name);
  writeOctal(header, 100, 8, 0o644);
  writeOctal(header, 108, 8, 0);
  writeOctal(header, 116, 8, 0);
  writeOctal(header, 124, 12, size);
  writeOctal(header, 136, 12, 0);
  header.fill(0x20, 148, 156); // the checksum is computed with its own field as spaces
  header[156] = 0x30; // '0': a regular file
  writeText(header, 257, 6, 'ustar\0');
  writeText(header, 263, 2, '00');

  const checksum = header.reduce((sum, byte) => sum + byte, 0);
  writeOctal(header, 148, 7, checksum);
  header[155] = 0x20;
  return header;
}

/** Zero bytes that pad `size` bytes of data to a whole block. */
export function padding(size: number): Uint8Array {
  return new Uint8Array((BLOCK - (size % BLOCK)) % BLOCK);
}

/** The archive bytes one file takes: header, data, padding. */
export function entrySize(size: number): number {
  return BLOCK + size + padding(size).byteLength;
}

function writeText(header: Uint8Array, offset: number, length: number, text: string): void {
  for (let i = 0; i < text.length && i < length; i++) header[offset + i] = text.charCodeAt(i);
}

// Octal digits, zero-padded, then a NUL, filling `length` bytes; 11 digits hold 8 GiB - 1.
function writeOctal(header: Uint8Array, offset: number, length: number, value: number): void {
  const digits = value.toString(8).padStart(length - 1, '0');
  if (digits.length > length - 1) throw new Error(`tar field value ${value} is too large`);
  writeText(header, offset, length - 1, digits);
  header[offset + length - 1] = 0;
}
