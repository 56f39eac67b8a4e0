import { createHash, randomFillSync } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { OCI } from './media-types';
import type { LayerBlob } from './blob';
import { BLOCK, paddingFor, tarHeader } from './tar';
import { makeTempDir } from './temp';

/** A file written by the harness, with the digest and size of its bytes. */
export interface BlobFile {
  path: string;
  digest: string;
  size: number;
}

const CHUNK = 1024 * 1024;

/**
 * Writes `sizeBytes` random bytes to a new file in `dir` (default: a fresh temp dir, which
 * the caller removes), 1 MiB at a time while hashing, so memory stays flat at any size.
 */
export async function randomBlobFile(sizeBytes: number, dir?: string): Promise<BlobFile> {
  const path = join(dir ?? (await makeTempDir('blob')), `random-${sizeBytes}.bin`);
  const sink = await openHashedFile(path);
  try {
    await sink.writeRandom(sizeBytes);
  } finally {
    await sink.close();
  }

  return { path, digest: sink.digest(), size: sizeBytes };
}

/**
 * Writes an uncompressed tar layer to `dir` holding one file of random bytes at `fileName`.
 * The payload is chosen so the layer is `sizeBytes` long when that is a multiple of 512 of at
 * least 1536 (one header, two end blocks); otherwise the layer is at most 511 bytes longer.
 * Random data does not compress, so the layer is an uncompressed OCI tar.
 */
export async function randomTarLayerFile(
  sizeBytes: number,
  fileName: string,
  dir: string,
): Promise<LayerBlob> {
  const payload = Math.max(0, sizeBytes - 3 * BLOCK);
  const path = join(dir, `layer-${sizeBytes}.tar`);
  const sink = await openHashedFile(path);
  try {
    await sink.write(tarHeader({ path: fileName, type: 'file', mode: 0o644 }, payload));
    await sink.writeRandom(payload);
    await sink.write(new Uint8Array(paddingFor(payload) + 2 * BLOCK));
  } finally {
    await sink.close();
  }
  const digest = sink.digest();

  return { digest, diffId: digest, size: sink.size(), mediaType: OCI.layerTar, path };
}

interface HashedFile {
  write(bytes: Uint8Array): Promise<void>;
  writeRandom(count: number): Promise<void>;
  digest(): string;
  size(): number;
  close(): Promise<void>;
}

async function openHashedFile(path: string): Promise<HashedFile> {
  const file = await open(path, 'wx');
  const hash = createHash('sha256');
  let size = 0;
  const write = async (bytes: Uint8Array): Promise<void> => {
    hash.update(bytes);
    size += bytes.length;
    await writeAll(file, bytes);
  };

  return {
    write,
    writeRandom: (count) => writeRandomChunks(count, write),
    digest: () => `sha256:${hash.copy().digest('hex')}`,
    size: () => size,
    close: () => file.close(),
  };
}

async function writeRandomChunks(count: number, write: (b: Uint8Array) => Promise<void>) {
  const buffer = Buffer.alloc(Math.min(CHUNK, count));
  for (let left = count; left > 0; left -= buffer.length) {
    const chunk = left >= buffer.length ? buffer : buffer.subarray(0, left);
    randomFillSync(chunk);
    await write(chunk);
  }
}

// FileHandle.write may write fewer bytes than asked; loop until all of them are on disk.
async function writeAll(file: FileHandle, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    const { bytesWritten } = await file.write(bytes, offset, bytes.length - offset);
    offset += bytesWritten;
  }
}
