/**
 * An archive's own hash. The first time an archive streams out whole, its sha256 and size are
 * kept in KV, so expressions and the hash API can pin `/image/...` without a second download.
 */
import { bytesToHex } from '@noble/hashes/utils.js';
import { z } from 'zod';
import type { Store } from '../blobs/store';
import { type Digest, isDigest } from '../digest';
import { logEvent } from '../log';
import { nixHashes } from '../nix/hashes';

/** What is known of an archive: its digest, size and Nix hashes. */
export interface Fingerprint {
  digest: Digest;
  size: number;
  nix32: string;
  sri: string;
}

const fingerprintSchema = z.object({
  digest: z
    .string()
    .refine(isDigest)
    .transform((value) => value as Digest),
  size: z.number().int().nonnegative(),
  nix32: z.string(),
  sri: z.string(),
});

// The tag is part of the key: it is written into the archive as its RepoTags label.
const key = (manifestDigest: Digest, tag: string | null) => `image/${manifestDigest}/${tag ?? ''}`;

/** The archive's fingerprint, if it has streamed out whole before. */
export async function knownFingerprint(
  store: Store,
  manifestDigest: Digest,
  tag: string | null,
): Promise<Fingerprint | null> {
  const parsed = fingerprintSchema.safeParse(await store.record(key(manifestDigest, tag)));
  return parsed.success ? parsed.data : null;
}

/**
 * The same stream, hashed as it passes; once it has ended whole, its fingerprint is written
 * to KV through `waitUntil` (nothing is written for a stream that fails or is cancelled).
 */
export function fingerprinting(
  stream: ReadableStream<Uint8Array>,
  store: Store,
  archive: { manifestDigest: Digest; tag: string | null },
  waitUntil: (promise: Promise<unknown>) => void,
): ReadableStream<Uint8Array> {
  const hasher = new crypto.DigestStream('SHA-256');
  const hash = hasher.getWriter();
  let size = 0;

  const record = async () => {
    await hash.close();
    const digest = `sha256:${bytesToHex(new Uint8Array(await hasher.digest))}` as Digest;
    const fingerprint: Fingerprint = { digest, size, ...nixHashes(digest) };
    await store.putRecord(key(archive.manifestDigest, archive.tag), fingerprint);
    logEvent('info', 'image-fingerprinted', { manifest: archive.manifestDigest, digest, size });
  };

  return stream.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      async transform(chunk, controller) {
        size += chunk.byteLength;
        await hash.write(chunk);
        controller.enqueue(chunk);
      },
      flush() {
        waitUntil(
          record().catch((error: unknown) =>
            logEvent('warn', 'image-not-fingerprinted', { reason: String(error) }),
          ),
        );
      },
    }),
  );
}
