/**
 * The expression hocker's docker2nix printed for nixpkgs' `fetchdocker`:
 *
 *   { fetchDockerConfig, fetchDockerLayer, fetchdocker }:
 *   fetchdocker rec { name; registry; repository; imageName; tag; imageConfig; imageLayers; }
 *
 * Unlike the fetchurl expression, nothing in it points at the edge: nixpkgs' fetchers run
 * hocker-config and hocker-layer against the registry itself when Nix builds. The hashes
 * are still the registry digests re-encoded (of the blobs as served, compressed), so the
 * expression is written without reading any blob.
 *
 * What nixpkgs' fetchdocker cannot take is refused up front with 400 `UNSUPPORTED`, rather
 * than printed into a file that would fail to build: see `fetchdockerNames` and
 * `checkFetchdockerImage`.
 */
import { digestHex } from '../digest';
import { fail } from '../errors';
import type { Reference } from '../reference';
import type { Descriptor } from '../registry/manifest';
import { headerLines, type PinnedImage } from './expression';
import { nixHashes } from './hashes';
import { type NixExpr, nix, printNix } from './printer';

/** How fetchdocker names an image: `registry/repository/imageName:tag`. */
export interface FetchdockerNames {
  /** The repository path's first component (`library` on Docker Hub). */
  repository: string;
  /** Its second and last component (`debian`). */
  imageName: string;
  tag: string;
}

// Nix refuses store names longer than this.
const STORE_NAME_MAX = 211;

/**
 * Splits a reference the way fetchdocker needs it, or throws 400 `UNSUPPORTED` saying why it
 * cannot: fetchdocker asserts that neither `repository` nor `imageName` holds a `/`, and
 * hocker's fetchers join them into the registry path, so the repository must have exactly
 * two components (Docker Hub's `debian` is `library/debian`, which fits); and
 * fetchDockerConfig fetches the config through the tag, so there must be one.
 */
export function fetchdockerNames(reference: Reference): FetchdockerNames {
  const parts = reference.repository.split('/');
  if (parts.length !== 2) {
    throw fail.unsupported(
      `format=fetchdocker cannot take ${reference.registry}/${reference.repository}: ` +
        "nixpkgs' fetchdocker names an image by repository and imageName, one path " +
        `component each, and this repository has ${parts.length}; use format=fetchurl`,
    );
  }
  if (reference.tag === null) {
    throw fail.unsupported(
      'format=fetchdocker needs a tag: fetchDockerConfig (hocker-config) fetches the config ' +
        'through it; write <name>:<tag>@<digest>, or use format=fetchurl',
    );
  }

  const [repository = '', imageName = ''] = parts;
  const configName = `${repository}_${imageName}_${reference.tag}-config.json`;
  if (configName.length > STORE_NAME_MAX) {
    throw fail.unsupported(
      `format=fetchdocker cannot take this name: fetchDockerConfig would name its output ` +
        `'${configName}', longer than the ${STORE_NAME_MAX} characters Nix allows`,
    );
  }
  return { repository, imageName, tag: reference.tag };
}

/**
 * Throws 400 `UNSUPPORTED` for a resolved image that fetchdocker could not build: a tag
 * that names a multi-platform index (hocker-config reads the config through the tag and
 * cannot read an index), no layers (fetchdocker tags the last one), or foreign layers
 * (hocker-layer asks the registry, which does not hold them).
 */
export function checkFetchdockerImage(image: PinnedImage): void {
  const alternative = 'use format=fetchurl, which pins blobs by digest at this edge';
  if (image.imageDigest !== image.manifestDigest) {
    throw fail.unsupported(
      `${image.imageDigest} is a multi-platform index; fetchDockerConfig (hocker-config) ` +
        `fetches the config through the tag and cannot read an index: ${alternative}`,
    );
  }
  if (image.layers.length === 0) {
    throw fail.unsupported(`${image.manifestDigest} has no layers, which fetchdocker needs`);
  }
  if (image.layers.some((layer) => (layer.urls ?? []).length > 0)) {
    throw fail.unsupported(
      `${image.manifestDigest} has foreign layers, which its registry does not serve to ` +
        `hocker-layer: ${alternative}`,
    );
  }
}

/** Options for `fetchdockerExpression`. */
export interface FetchdockerOptions {
  /** The registry's `/v2/` base, as hocker takes it: `https://registry-1.docker.io/v2/`. */
  registryUrl: string;
  /** The derivation's `name`; the image name when null. A valid store name. */
  altName: string | null;
}

/**
 * The fetchdocker Nix file for `image`, as docker2nix printed it: the config inherits `tag`
 * and the names from the `rec` set, each layer is a `let` binding `layerN`. Throws what
 * `fetchdockerNames` and `checkFetchdockerImage` throw.
 */
export function fetchdockerExpression(image: PinnedImage, options: FetchdockerOptions): string {
  const names = fetchdockerNames(image.reference);
  checkFetchdockerImage(image);

  const common = ['registry', 'repository', 'imageName'];
  const sha256 = (descriptor: Descriptor) => nix.string(nixHashes(descriptor.digest).nix32);
  const imageConfig = nix.apply(
    'fetchDockerConfig',
    nix.attrs({ sha256: sha256(image.config) }, { inherit: ['tag', ...common] }),
  );
  const layers = image.layers.map((layer, index): [string, NixExpr] => [
    `layer${index}`,
    nix.apply(
      'fetchDockerLayer',
      nix.attrs(
        { layerDigest: nix.string(digestHex(layer.digest)), sha256: sha256(layer) },
        { inherit: common },
      ),
    ),
  ]);
  const imageLayers = nix.let(layers, nix.list(layers.map(([name]) => nix.var(name))));

  const body = nix.apply(
    'fetchdocker',
    nix.attrs(
      {
        name: nix.string(options.altName ?? names.imageName),
        registry: nix.string(options.registryUrl),
        repository: nix.string(names.repository),
        imageName: nix.string(names.imageName),
        tag: nix.string(names.tag),
        imageConfig,
        imageLayers,
      },
      { rec: true },
    ),
  );

  const header = [
    ...headerLines(image, image.manifestDigest, 'single platform', "for nixpkgs' fetchdocker"),
    `When Nix builds, hocker-config and hocker-layer fetch from ${options.registryUrl};`,
    `the config is found through tag ${names.tag}, which must still name this manifest then.`,
    'Private repositories need DOCKER_USER and DOCKER_PASS, or DOCKER_TOKEN, in the environment.',
  ];
  const formals = ['fetchDockerConfig', 'fetchDockerLayer', 'fetchdocker'];
  return printNix(nix.function(formals, body), { header });
}
