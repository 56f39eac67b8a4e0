/** The Docker schema 2 media types the fixtures use. */
export const DOCKER = {
  manifest: 'application/vnd.docker.distribution.manifest.v2+json',
  list: 'application/vnd.docker.distribution.manifest.list.v2+json',
  config: 'application/vnd.docker.container.image.v1+json',
  layerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

/** The OCI image-spec media types the fixtures use. */
export const OCI = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  layerTar: 'application/vnd.oci.image.layer.v1.tar',
} as const;

/** The layer type of a BuildKit attestation manifest. */
export const IN_TOTO = 'application/vnd.in-toto+json';

/**
 * Every manifest type a client can read, for `Accept`. distribution 2.8 answers 404 for a
 * tag on an OCI index when Accept lists only Docker types, so pulls must send all four.
 */
export const ALL_MANIFEST_TYPES: readonly string[] = [
  DOCKER.manifest,
  DOCKER.list,
  OCI.manifest,
  OCI.index,
];
