/**
 * What the edge keeps. R2 holds verified bytes under content addresses
 * (`blobs/sha256/<hex>`, `manifests/sha256/<hex>`); KV holds small records: one per blob
 * (size, media type, Nix hashes, where it was first seen) and one per tag (the digest it
 * pointed at, and when that was last confirmed upstream).
 *
 * Every R2 write passes the expected sha256 to R2, which refuses the object on a mismatch, and
 * every R2 read of a blob checks the stored size against what it must be: an object that is
 * not exactly right is deleted and treated as absent, never served.
 */
import { bytesToHex } from '@noble/hashes/utils.js';
import { z } from 'zod';
import type { SubrequestBudget } from '../budget';
import { type Digest, digestHex, isDigest } from '../digest';
import { logEvent } from '../log';

/** What is known of one blob. */
export interface BlobRecord {
  digest: Digest;
  size: number;
  mediaType: string;
  /** Nix's base32 of the sha256, as `fetchurl { sha256 = ...; }` takes it. */
  nix32: string;
  /** The SRI form, `sha256-<base64>`. */
  sri: string;
  /** Where the blob was first seen, so it can be fetched again without a manifest. */
  registry: string;
  repository: string;
  /** True when it was (or will be) fetched without caller credentials. */
  anonymous: boolean;
}

/** Which digest a tag pointed at, and when upstream last confirmed it (ms since the epoch). */
export interface TagRecord {
  digest: Digest;
  mediaType: string;
  confirmedAt: number;
  /** False when upstream answered only with the caller's credentials. */
  anonymous: boolean;
}

/** A manifest held in R2: its exact bytes and media type. */
export interface StoredManifest {
  bytes: Uint8Array;
  mediaType: string;
  /** False when it was fetched with a caller's credentials: serve it only to such callers. */
  anonymous: boolean;
}

const digestSchema = z
  .string()
  .refine(isDigest)
  .transform((value) => value as Digest);

const blobRecordSchema = z.object({
  digest: digestSchema,
  size: z.number().int().nonnegative(),
  mediaType: z.string(),
  nix32: z.string(),
  sri: z.string(),
  registry: z.string(),
  repository: z.string(),
  anonymous: z.boolean(),
});

const tagRecordSchema = z.object({
  digest: digestSchema,
  mediaType: z.string(),
  confirmedAt: z.number(),
  anonymous: z.boolean(),
});

// KV drops a tag record some time after it stops being fresh; the gap lets a later change
// serve a stale tag while upstream is down.
const TAG_RECORD_LIFETIME_SECONDS = 7 * 24 * 3600;

const blobKey = (digest: Digest) => `blobs/sha256/${digestHex(digest)}`;
const manifestKey = (digest: Digest) => `manifests/sha256/${digestHex(digest)}`;
const blobRecordKey = (digest: Digest) => `blob/${digest}`;
const tagKey = (name: string, tag: string) => `tag/${name}:${tag}`;

/** R2 and KV behind one interface. */
export class Store {
  constructor(
    private readonly records: KVNamespace,
    private readonly bucket: R2Bucket,
    private readonly budget: SubrequestBudget,
  ) {}

  // Every binding call is a subrequest; these count it before handing out the binding. A
  // write of something new also counts as progress: a request stopped after it leaves the
  // next one less to do. Refreshing a tag's confirmation does not: any request redoes it.
  private kv(access: 'read' | 'write' | 'refresh' = 'read'): KVNamespace {
    this.budget.spend(`a KV ${access === 'read' ? 'read' : 'write'}`, access === 'write');
    return this.records;
  }

  private r2(access: 'read' | 'write' = 'read'): R2Bucket {
    this.budget.spend(`an R2 ${access}`, access === 'write');
    return this.bucket;
  }

  /** The manifest stored under `digest`, or null. */
  async manifest(digest: Digest): Promise<StoredManifest | null> {
    const object = await this.r2().get(manifestKey(digest));
    if (object === null) return null;

    const bytes = new Uint8Array(await object.arrayBuffer());
    const mediaType = object.customMetadata?.mediaType ?? object.httpMetadata?.contentType ?? '';
    return { bytes, mediaType, anonymous: isAnonymous(object) };
  }

  /** Stores manifest bytes; R2 itself refuses them unless they hash to `digest`. */
  async putManifest(digest: Digest, manifest: StoredManifest): Promise<void> {
    await this.r2('write').put(manifestKey(digest), manifest.bytes, {
      sha256: digestHex(digest),
      httpMetadata: { contentType: manifest.mediaType },
      customMetadata: { mediaType: manifest.mediaType, anonymous: String(manifest.anonymous) },
    });
  }

  /** The cached blob's metadata if it is present and exactly `size` bytes, else null. */
  async blobHead(digest: Digest, size?: number): Promise<R2Object | null> {
    const object = await this.r2().head(blobKey(digest));
    return object !== null && (await this.intact(digest, object, size)) ? object : null;
  }

  /** The cached blob's bytes (optionally a range), if present and intact, else null. */
  async blob(digest: Digest, size?: number, range?: R2Range): Promise<R2ObjectBody | null> {
    const object = await this.r2().get(blobKey(digest), range === undefined ? {} : { range });
    if (object === null) return null;
    if (await this.intact(digest, object, size)) return object;

    await object.body.cancel();
    return null;
  }

  /**
   * Starts writing a blob of exactly `size` bytes. Bytes written to `writable` go to R2; the
   * returned promise settles when R2 has accepted (after checking the sha256) or refused them.
   * Aborting `writable` leaves nothing behind.
   */
  beginBlob(digest: Digest, size: number, mediaType: string, anonymous: boolean): BlobWriter {
    const stream = new FixedLengthStream(size);
    const done = this.r2('write')
      .put(blobKey(digest), stream.readable, {
        sha256: digestHex(digest),
        httpMetadata: { contentType: 'application/octet-stream' },
        customMetadata: { mediaType, anonymous: String(anonymous) },
      })
      .then(() => undefined);
    return { writable: stream.writable, done };
  }

  /** Removes a cached blob whose bytes turned out wrong; the next request fetches it anew. */
  async deleteBlob(digest: Digest): Promise<void> {
    await this.r2().delete(blobKey(digest));
  }

  /** The blob's KV record, or null if the edge has never seen it in a manifest. */
  async blobRecord(digest: Digest): Promise<BlobRecord | null> {
    const raw = await this.kv().get(blobRecordKey(digest), 'json');
    if (raw === null) return null;

    const parsed = blobRecordSchema.safeParse(raw);
    return parsed.success ? parsed.data : null;
  }

  /** Records what a manifest said of a blob. */
  async putBlobRecord(record: BlobRecord): Promise<void> {
    await this.kv('write').put(blobRecordKey(record.digest), JSON.stringify(record));
  }

  /** The tag's last known digest, or null. */
  async tag(name: string, tag: string): Promise<TagRecord | null> {
    const raw = await this.kv().get(tagKey(name, tag), 'json');
    if (raw === null) return null;

    const parsed = tagRecordSchema.safeParse(raw);
    return parsed.success ? parsed.data : null;
  }

  /** Records that upstream just said `name:tag` is `record.digest`. */
  async putTag(name: string, tag: string, record: TagRecord): Promise<void> {
    await this.kv('refresh').put(tagKey(name, tag), JSON.stringify(record), {
      expirationTtl: TAG_RECORD_LIFETIME_SECONDS,
    });
  }

  /** A small JSON record under `key` (see the image modules), or null; callers validate it. */
  async record(key: string): Promise<unknown> {
    return await this.kv().get(key, 'json');
  }

  /** Writes a small JSON record under `key`. */
  async putRecord(key: string, value: unknown): Promise<void> {
    await this.kv('write').put(key, JSON.stringify(value));
  }

  /** Removes a small record that no longer holds (see the image modules). */
  async deleteRecord(key: string): Promise<void> {
    await this.kv('write').delete(key);
  }

  private async intact(digest: Digest, object: R2Object, size?: number): Promise<boolean> {
    const checksum = object.checksums.sha256;
    const checksumOk =
      checksum === undefined || bytesToHex(new Uint8Array(checksum)) === digestHex(digest);
    const sizeOk = size === undefined || object.size === size;
    if (checksumOk && sizeOk) return true;

    logEvent('error', 'cache-inconsistent', { digest, storedSize: object.size, size });
    await this.r2().delete(blobKey(digest));
    return false;
  }
}

/** Whether an R2 object was fetched without caller credentials (and may be shared). */
export function isAnonymous(object: R2Object): boolean {
  return object.customMetadata?.anonymous !== 'false';
}

/** A blob write in progress (see `Store.beginBlob`). */
export interface BlobWriter {
  writable: WritableStream<Uint8Array>;
  done: Promise<void>;
}
