/**
 * Manifest documents: the four media types the edge reads, their zod schemas, and how a body
 * is classified. The type is taken from what came back (Content-Type, then the body's own
 * `mediaType`, then its shape), never from what was asked for: registries such as ECR send a
 * list whatever `Accept` says.
 */
import { z } from 'zod';
import { type Digest, isDigest } from '../digest';
import { EdgeError, type ErrorStatus } from '../errors';

/** Manifest media types. */
export const MediaTypes = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
} as const;

const SCHEMA1_TYPES = new Set([
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
]);

const INDEX_TYPES = new Set<string>([MediaTypes.dockerList, MediaTypes.ociIndex]);
const IMAGE_TYPES = new Set<string>([MediaTypes.dockerManifest, MediaTypes.ociManifest]);
const GENERIC_TYPES = new Set(['application/json', 'text/plain', 'application/octet-stream', '']);

/**
 * The upstream `Accept`: every manifest type the edge reads. distribution answers 404 for an
 * OCI index when the list is missing from it, so all four are always sent.
 */
export const MANIFEST_ACCEPT = [
  MediaTypes.ociIndex,
  MediaTypes.dockerList,
  MediaTypes.ociManifest,
  MediaTypes.dockerManifest,
].join(', ');

/** Config media types of container images (anything else is an artifact: a chart, an SBOM). */
export const IMAGE_CONFIG_TYPES: ReadonlySet<string> = new Set([
  'application/vnd.oci.image.config.v1+json',
  'application/vnd.docker.container.image.v1+json',
]);

/**
 * Throws 415 `UNSUPPORTED` naming the config type unless the manifest is a container image:
 * outputs that only make sense for images (Nix image expressions, docker archives) refuse
 * artifacts, while mirroring and hash lookups serve them like anything else.
 */
export function requireImageConfig(manifestDigest: string, config: { mediaType: string }): void {
  if (IMAGE_CONFIG_TYPES.has(config.mediaType)) return;
  throw new EdgeError(
    'UNSUPPORTED',
    415,
    `${manifestDigest} is not a container image: its config is ${config.mediaType}`,
    { mediaType: config.mediaType },
  );
}

/** Manifests larger than this are refused; the distribution spec's own default limit. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

const digest = z
  .string()
  .refine(isDigest, 'not a sha256 digest')
  .transform((d) => d as Digest);

const platform = z.object({
  os: z.string().min(1),
  architecture: z.string().min(1),
  variant: z.string().optional(),
});

const descriptor = z.object({
  mediaType: z.string().min(1),
  digest,
  size: z.number().int().nonnegative(),
  urls: z.array(z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  artifactType: z.string().optional(),
  platform: platform.optional(),
});

/** A content descriptor: what a manifest says about a blob or another manifest. */
export type Descriptor = z.infer<typeof descriptor>;

const imageSchema = z.object({
  schemaVersion: z.literal(2),
  config: descriptor,
  layers: z.array(descriptor),
});

const indexSchema = z.object({
  schemaVersion: z.literal(2),
  manifests: z.array(descriptor),
});

/** An image manifest: one platform's config and layers. */
export interface ImageManifest {
  kind: 'image';
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

/** A Docker manifest list or OCI index: one entry per platform (and attestations). */
export interface IndexManifest {
  kind: 'index';
  mediaType: string;
  manifests: Descriptor[];
}

export type Manifest = ImageManifest | IndexManifest;

/**
 * Classifies and validates a manifest body. `status` is what a bad body maps to: 502 when
 * upstream sent it, 400 when a caller did.
 */
export function parseManifest(
  bytes: Uint8Array,
  contentType: string | null,
  status: ErrorStatus = 502,
): Manifest {
  const invalid = (message: string, detail?: unknown) =>
    new EdgeError('MANIFEST_INVALID', status, message, detail);

  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes));
  } catch {
    throw invalid('manifest is not JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalid('manifest is not a JSON object');
  }

  const mediaType = classify(body as Record<string, unknown>, contentType);
  if (mediaType === 'unknown') {
    throw invalid('document is neither an image manifest nor an index, and names no media type');
  }
  if (SCHEMA1_TYPES.has(mediaType)) {
    throw new EdgeError(
      'UNSUPPORTED',
      415,
      `manifest type ${mediaType} (Docker schema 1) is not supported; push the image again ` +
        'with a current client to get a schema 2 or OCI manifest',
    );
  }

  const schema = INDEX_TYPES.has(mediaType)
    ? indexSchema
    : IMAGE_TYPES.has(mediaType)
      ? imageSchema
      : null;
  if (schema === null) {
    throw new EdgeError('UNSUPPORTED', 415, `manifest media type '${mediaType}' is not supported`);
  }

  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') || 'manifest';
    throw invalid(`${where}: ${issue?.message ?? 'invalid'}`, { mediaType });
  }

  return 'manifests' in parsed.data
    ? { kind: 'index', mediaType, manifests: parsed.data.manifests }
    : { kind: 'image', mediaType, config: parsed.data.config, layers: parsed.data.layers };
}

/** The media type of a body: its Content-Type unless generic, then `mediaType`, then shape. */
function classify(body: Record<string, unknown>, contentType: string | null): string {
  const declared = normalizeMediaType(contentType);
  if (!GENERIC_TYPES.has(declared)) return declared;

  if (typeof body.mediaType === 'string' && body.mediaType !== '') {
    return normalizeMediaType(body.mediaType);
  }
  if (body.schemaVersion === 1) return 'application/vnd.docker.distribution.manifest.v1+json';
  if (Array.isArray(body.manifests)) return MediaTypes.ociIndex;
  if (body.config !== undefined && Array.isArray(body.layers)) return MediaTypes.ociManifest;
  return declared || 'unknown';
}

/** A media type without parameters, lower-cased: `A/B+json; charset=utf-8` -> `a/b+json`. */
export function normalizeMediaType(value: string | null | undefined): string {
  return (value ?? '').split(';', 1)[0]!.trim().toLowerCase();
}
