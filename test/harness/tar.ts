/** One member of a tar archive; every member has mtime 0 and uid/gid 0. */
export interface TarEntry {
  /** Relative path without a leading `/`; directories need no trailing `/`. */
  path: string;
  type: 'file' | 'dir';
  mode: number;
  data?: Uint8Array;
}

/** A file to put in a layer: its content, or its content and mode (0644 by default). */
export type LayerFile = string | Uint8Array | { data: string | Uint8Array; mode: number };

/** The size of a tar block; headers and padded file data fill whole blocks. */
export const BLOCK = 512;

/**
 * Writes a deterministic ustar archive: the entries in the given order, each file padded
 * to a whole block, then the two zero blocks that end an archive.
 */
export function tarArchive(entries: readonly TarEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const entry of entries) {
    const data = entry.data ?? new Uint8Array(0);
    parts.push(tarHeader(entry, data.length), data, new Uint8Array(paddingFor(data.length)));
  }
  parts.push(new Uint8Array(2 * BLOCK));

  return Buffer.concat(parts);
}

/**
 * Lists `files` as tar entries, adding every parent directory (mode 0755), sorted by path so
 * that the same files always give the same archive.
 */
export function layerEntries(files: Readonly<Record<string, LayerFile>>): TarEntry[] {
  const entries = new Map<string, TarEntry>();
  for (const [path, file] of Object.entries(files)) {
    for (const dir of parentDirs(path)) entries.set(dir, { path: dir, type: 'dir', mode: 0o755 });
    entries.set(path, fileEntry(path, file));
  }

  return [...entries.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function fileEntry(path: string, file: LayerFile): TarEntry {
  const plain = typeof file === 'string' || file instanceof Uint8Array;
  const spec = plain ? { data: file, mode: 0o644 } : file;
  const data = typeof spec.data === 'string' ? Buffer.from(spec.data, 'utf8') : spec.data;

  return { path, type: 'file', mode: spec.mode, data };
}

function parentDirs(path: string): string[] {
  const parts = path.split('/').slice(0, -1);

  return parts.map((_, i) => parts.slice(0, i + 1).join('/'));
}

/** The number of zero bytes that pad `size` bytes of file data to a whole block. */
export function paddingFor(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** The 512-byte ustar header of `entry` holding `size` bytes of data. */
export function tarHeader(entry: TarEntry, size: number): Uint8Array {
  const header = Buffer.alloc(BLOCK);
  const name = entry.type === 'dir' ? `${entry.path}/` : entry.path;
  const [prefix, base] = splitName(name);
  header.write(base, 0, 100, 'utf8');
  writeOctal(header, 100, 8, entry.mode);
  writeOctal(header, 108, 8, 0);
  writeOctal(header, 116, 8, 0);
  writeOctal(header, 124, 12, entry.type === 'dir' ? 0 : size);
  writeOctal(header, 136, 12, 0);
  header.write(entry.type === 'dir' ? '5' : '0', 156, 1, 'ascii');
  header.write('ustar\u000000', 257, 8, 'ascii');
  writeOctal(header, 329, 8, 0);
  writeOctal(header, 337, 8, 0);
  header.write(prefix, 345, 155, 'utf8');
  writeChecksum(header);

  return header;
}

// ustar keeps names over 100 bytes as prefix + '/' + name, split at a slash.
function splitName(name: string): [string, string] {
  if (Buffer.byteLength(name) <= 100) return ['', name];

  const cut = name.lastIndexOf('/', name.length - 2);
  const prefix = name.slice(0, cut);
  const base = name.slice(cut + 1);
  if (cut < 0 || Buffer.byteLength(prefix) > 155 || Buffer.byteLength(base) > 100) {
    throw new Error(`tar: path too long for ustar: ${name}`);
  }

  return [prefix, base];
}

function writeOctal(header: Buffer, offset: number, width: number, value: number): void {
  const digits = value.toString(8).padStart(width - 1, '0');
  if (digits.length > width - 1) throw new Error(`tar: ${value} does not fit ${width} bytes`);

  header.write(`${digits}\u0000`, offset, width, 'ascii');
}

// The checksum is summed with its own field read as spaces, then written as six octal
// digits, a NUL and a space, the form GNU tar writes.
function writeChecksum(header: Buffer): void {
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 8, 'ascii');
}
