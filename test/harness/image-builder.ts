import { gzipSync } from 'node:zlib';
import { blobFromBytes, jsonBytes, sha256Digest, type BuiltBlob, type LayerBlob } from './blob';
import { DOCKER, IN_TOTO, OCI } from './media-types';
import { layerEntries, tarArchive, type LayerFile } from './tar';

export type { BuiltBlob, LayerBlob } from './blob';
export { randomBlobFile, randomTarLayerFile, type BlobFile } from './blob-file';

/** Docker schema 2 (manifest, manifest list) or OCI (manifest, index) media types. */
export type ImageFormat = 'docker' | 'oci';

/** An image platform as manifests and configs spell it. */
export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

/** A single-platform image manifest with everything it references. */
export interface BuiltManifest {
  digest: string;
  size: number;
  mediaType: string;
  bytes: Uint8Array;
  config: BuiltBlob;
  layers: BuiltBlob[];
  platform: Platform;
}

/** A Docker manifest list or OCI index with the manifests it lists. */
export interface BuiltIndex {
  digest: string;
  size: number;
  mediaType: string;
  bytes: Uint8Array;
  /** The platform images, in the order the index lists them. */
  manifests: BuiltManifest[];
  /** BuildKit-style attestation manifests (platform unknown/unknown), listed after them. */
  attestations: BuiltManifest[];
}

/** What `buildImage` assembles into a config and a manifest. */
export interface ImageSpec {
  format: ImageFormat;
  platform: Platform;
  layers: LayerBlob[];
  /** The image's default command, written into the config. */
  cmd?: string[];
}

/** A gzip-compressed tar layer of `files` (see tar.ts for the deterministic layout). */
export function buildLayer(
  files: Readonly<Record<string, LayerFile>>,
  format: ImageFormat,
): LayerBlob {
  const tar = tarArchive(layerEntries(files));
  const mediaType = format === 'docker' ? DOCKER.layerGzip : OCI.layerGzip;

  return { ...blobFromBytes(gzipSync(tar), mediaType), diffId: sha256Digest(tar) };
}

/** Builds the config blob and the manifest of a single-platform image. */
export function buildImage(spec: ImageSpec): BuiltManifest {
  const types = spec.format === 'docker' ? DOCKER : OCI;
  const config = blobFromBytes(jsonBytes(imageConfig(spec)), types.config);
  const layers: BuiltBlob[] = spec.layers.map(({ diffId: _, ...blob }) => blob);

  return manifestOf(types.manifest, config, layers, spec.platform);
}

function imageConfig(spec: ImageSpec) {
  return {
    architecture: spec.platform.architecture,
    os: spec.platform.os,
    ...(spec.platform.variant === undefined ? {} : { variant: spec.platform.variant }),
    // A fixed date keeps the config, and so every digest above it, deterministic.
    created: '1970-01-01T00:00:00Z',
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      ...(spec.cmd === undefined ? {} : { Cmd: spec.cmd }),
    },
    rootfs: { type: 'layers', diff_ids: spec.layers.map((layer) => layer.diffId) },
  };
}

function manifestOf(
  mediaType: string,
  config: BuiltBlob,
  layers: BuiltBlob[],
  platform: Platform,
): BuiltManifest {
  const manifest = {
    schemaVersion: 2,
    mediaType,
    config: descriptor(config),
    layers: layers.map(descriptor),
  };
  const bytes = jsonBytes(manifest);

  const digest = sha256Digest(bytes);

  return { digest, size: bytes.length, mediaType, bytes, config, layers, platform };
}

function descriptor(blob: BuiltBlob) {
  const { mediaType, size, digest, annotations } = blob;

  return { mediaType, size, digest, ...(annotations === undefined ? {} : { annotations }) };
}

/**
 * Builds a BuildKit-style attestation for `subject`: an OCI manifest whose one layer is an
 * in-toto statement naming the subject's digest.
 */
export function buildAttestation(subject: BuiltManifest): BuiltManifest {
  const predicateType = 'https://spdx.dev/Document';
  const statement = {
    _type: 'https://in-toto.io/Statement/v0.1',
    predicateType,
    subject: [{ name: 'hocker-edge-fixture', digest: { sha256: subject.digest.slice(7) } }],
    predicate: { spdxVersion: 'SPDX-2.3', name: 'hocker-edge fixture sbom' },
  };
  const layer = blobFromBytes(jsonBytes(statement), IN_TOTO);
  layer.annotations = { 'in-toto.io/predicate-type': predicateType };
  const unknown: Platform = { architecture: 'unknown', os: 'unknown' };
  const config = {
    ...unknown,
    config: {},
    rootfs: { type: 'layers', diff_ids: [layer.digest] },
  };

  return manifestOf(OCI.manifest, blobFromBytes(jsonBytes(config), OCI.config), [layer], unknown);
}

/**
 * Builds a Docker manifest list or OCI index over `manifests`. With `attestations` (OCI
 * only), each manifest also gets an attestation entry the way BuildKit pushes them.
 */
export function buildIndex(
  format: ImageFormat,
  manifests: BuiltManifest[],
  opts: { attestations?: boolean } = {},
): BuiltIndex {
  if (format === 'docker' && opts.attestations === true) {
    throw new Error('buildIndex: attestation entries need an OCI index');
  }

  const mediaType = format === 'docker' ? DOCKER.list : OCI.index;
  const attestations = opts.attestations === true ? manifests.map(buildAttestation) : [];
  const entries = [
    ...manifests.map(platformEntry),
    ...attestations.map((att, i) => attestationEntry(att, manifests[i]?.digest ?? '')),
  ];
  const bytes = jsonBytes({ schemaVersion: 2, mediaType, manifests: entries });

  const digest = sha256Digest(bytes);

  return { digest, size: bytes.length, mediaType, bytes, manifests, attestations };
}

function platformEntry(manifest: BuiltManifest) {
  const { mediaType, size, digest, platform } = manifest;

  return { mediaType, size, digest, platform };
}

function attestationEntry(attestation: BuiltManifest, subjectDigest: string) {
  const { mediaType, size, digest, platform } = attestation;
  const annotations = {
    'vnd.docker.reference.digest': subjectDigest,
    'vnd.docker.reference.type': 'attestation-manifest',
  };

  return { mediaType, size, digest, annotations, platform };
}
