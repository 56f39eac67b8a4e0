// Manifest classification and validation: parseManifest, normalizeMediaType, MANIFEST_ACCEPT.
import { describe, expect, it } from 'vitest';
import { EdgeError } from '../src/errors';
import {
  MANIFEST_ACCEPT,
  MediaTypes,
  normalizeMediaType,
  parseManifest,
} from '../src/registry/manifest';

const A = `sha256:${'a'.repeat(64)}`;
const B = `sha256:${'b'.repeat(64)}`;
const C = `sha256:${'c'.repeat(64)}`;
const EMPTY_JSON = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';
const EMPTY_GZIP = 'sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4';

const SCHEMA1 = 'application/vnd.docker.distribution.manifest.v1+json';
const SCHEMA1_SIGNED = 'application/vnd.docker.distribution.manifest.v1+prettyjws';
const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
const DOCKER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
const DOCKER_ZSTD = 'application/vnd.docker.image.rootfs.diff.tar.zstd';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const OCI_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';

const enc = (value: unknown) =>
  new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));

const dockerImage = {
  schemaVersion: 2,
  mediaType: MediaTypes.dockerManifest,
  config: { mediaType: DOCKER_CONFIG, digest: A, size: 1469 },
  layers: [{ mediaType: DOCKER_GZIP, digest: B, size: 3_000_000 }],
};

const ociImage = {
  schemaVersion: 2,
  mediaType: MediaTypes.ociManifest,
  config: { mediaType: OCI_CONFIG, digest: A, size: 1469 },
  layers: [{ mediaType: OCI_GZIP, digest: B, size: 3_000_000 }],
};

// C01: the list Docker Hub sent to a client that asked only for image manifests.
const dockerList = {
  schemaVersion: 2,
  mediaType: MediaTypes.dockerList,
  manifests: [
    {
      mediaType: MediaTypes.dockerManifest,
      digest: A,
      size: 528,
      platform: { architecture: 'amd64', os: 'linux' },
    },
    {
      mediaType: MediaTypes.dockerManifest,
      digest: B,
      size: 528,
      platform: { architecture: 'arm64', os: 'linux', variant: 'v8' },
    },
  ],
};

const ociIndex = { ...dockerList, mediaType: MediaTypes.ociIndex };

/** `body` without its `mediaType` field, as OCI allows and some registries send. */
const untyped = (body: Record<string, unknown>) => {
  const { mediaType: _dropped, ...rest } = body;
  return rest;
};

/** What a parse comes to: kind and media type, or the error's code, status and message. */
function outcome(body: unknown, contentType: string | null, status?: 400 | 502) {
  try {
    const got = parseManifest(enc(body), contentType, status);
    return { kind: got.kind, mediaType: got.mediaType };
  } catch (error) {
    if (!(error instanceof EdgeError)) throw error;
    return { code: error.code, status: error.status, message: error.message };
  }
}

const show = (value: unknown) => JSON.stringify(value);

describe('parseManifest classification', () => {
  const image = (mediaType: string) => ({ kind: 'image', mediaType });
  const index = (mediaType: string) => ({ kind: 'index', mediaType });

  it.each([
    // From Content-Type, which wins over what was asked for (C01).
    {
      name: 'Docker v2 by Content-Type',
      body: dockerImage,
      contentType: MediaTypes.dockerManifest,
      want: image(MediaTypes.dockerManifest),
    },
    {
      name: 'OCI manifest by Content-Type',
      body: ociImage,
      contentType: MediaTypes.ociManifest,
      want: image(MediaTypes.ociManifest),
    },
    {
      name: 'C01: Docker list by Content-Type',
      body: dockerList,
      contentType: MediaTypes.dockerList,
      want: index(MediaTypes.dockerList),
    },
    {
      name: 'OCI index by Content-Type',
      body: ociIndex,
      contentType: MediaTypes.ociIndex,
      want: index(MediaTypes.ociIndex),
    },
    // C07: parameters and case are ignored.
    {
      name: 'C07: Content-Type with ; charset=utf-8',
      body: dockerImage,
      contentType: `${MediaTypes.dockerManifest}; charset=utf-8`,
      want: image(MediaTypes.dockerManifest),
    },
    {
      name: 'C07: upper-case Content-Type with a parameter and spaces',
      body: ociIndex,
      contentType: ` ${MediaTypes.ociIndex.toUpperCase()} ;charset="UTF-8"`,
      want: index(MediaTypes.ociIndex),
    },
    {
      name: 'Content-Type wins over a different body mediaType',
      body: ociImage,
      contentType: MediaTypes.dockerManifest,
      want: image(MediaTypes.dockerManifest),
    },
    // C07: a generic Content-Type falls back to the body's mediaType.
    {
      name: 'C07: application/json with an OCI manifest mediaType',
      body: ociImage,
      contentType: 'application/json',
      want: image(MediaTypes.ociManifest),
    },
    {
      name: 'application/json; charset=utf-8 with a Docker list mediaType',
      body: dockerList,
      contentType: 'application/json; charset=utf-8',
      want: index(MediaTypes.dockerList),
    },
    {
      name: 'text/plain with a Docker v2 mediaType',
      body: dockerImage,
      contentType: 'text/plain',
      want: image(MediaTypes.dockerManifest),
    },
    {
      name: 'application/octet-stream with an OCI index mediaType',
      body: ociIndex,
      contentType: 'application/octet-stream',
      want: index(MediaTypes.ociIndex),
    },
    {
      name: 'no Content-Type, Docker v2 mediaType',
      body: dockerImage,
      contentType: null,
      want: image(MediaTypes.dockerManifest),
    },
    {
      name: 'empty Content-Type, body mediaType in upper case',
      body: { ...dockerList, mediaType: MediaTypes.dockerList.toUpperCase() },
      contentType: '',
      want: index(MediaTypes.dockerList),
    },
    // C07: neither says, so the shape decides.
    {
      name: 'shape: manifests[] is an index',
      body: untyped(ociIndex),
      contentType: null,
      want: index(MediaTypes.ociIndex),
    },
    {
      name: 'shape: config and layers is an image manifest',
      body: untyped(ociImage),
      contentType: 'application/json',
      want: image(MediaTypes.ociManifest),
    },
    {
      name: 'shape: an empty mediaType is treated as absent',
      body: { ...untyped(ociImage), mediaType: '' },
      contentType: null,
      want: image(MediaTypes.ociManifest),
    },
  ])('$name', ({ body, contentType, want }) => {
    const got = outcome(body, contentType);

    expect(
      got,
      `parseManifest(${show(body)}, ${contentType}) = ${show(got)}, want ${show(want)}`,
    ).toEqual(want);
  });

  it('returns the descriptors of an image manifest', () => {
    const got = parseManifest(enc(dockerImage), MediaTypes.dockerManifest);

    expect(got, `parseManifest(dockerImage) = ${show(got)}`).toEqual({
      kind: 'image',
      mediaType: MediaTypes.dockerManifest,
      config: dockerImage.config,
      layers: dockerImage.layers,
    });
  });

  it('returns the entries of a C01 list with their platforms', () => {
    const got = parseManifest(enc(dockerList), MediaTypes.dockerList);

    expect(got, `parseManifest(dockerList) = ${show(got)}`).toEqual({
      kind: 'index',
      mediaType: MediaTypes.dockerList,
      manifests: dockerList.manifests,
    });
  });

  it('reads a body that starts with a UTF-8 byte order mark', () => {
    const bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...enc(ociImage)]);
    const got = parseManifest(bytes, MediaTypes.ociManifest);

    expect(got.kind, `parseManifest(BOM + ociImage).kind = ${got.kind}`).toBe('image');
  });
});

describe('parseManifest media types it accepts without looking (C15, C17)', () => {
  it.each([
    {
      name: 'C15: Docker v2 mixing gzip and the non-standard Docker zstd layer',
      body: {
        ...dockerImage,
        layers: [
          { mediaType: DOCKER_GZIP, digest: B, size: 10 },
          { mediaType: DOCKER_ZSTD, digest: C, size: 20 },
        ],
      },
    },
    {
      name: 'C15: OCI manifest with a zstd layer',
      body: { ...ociImage, layers: [{ mediaType: OCI_ZSTD, digest: B, size: 10 }] },
    },
    {
      name: 'an unknown layer media type',
      body: { ...ociImage, layers: [{ mediaType: 'application/x-made-up', digest: B, size: 1 }] },
    },
    {
      name: 'C17: OCI artifact with the empty config carrying data',
      body: {
        schemaVersion: 2,
        mediaType: MediaTypes.ociManifest,
        artifactType: 'application/vnd.example.sbom.v1',
        config: { mediaType: OCI_EMPTY, digest: EMPTY_JSON, size: 2, data: 'e30=' },
        layers: [
          { mediaType: 'application/vnd.example.sbom.v1+json', digest: EMPTY_GZIP, size: 32 },
          { mediaType: OCI_EMPTY, digest: EMPTY_JSON, size: 2, data: 'e30=' },
        ],
        subject: { mediaType: MediaTypes.ociManifest, digest: C, size: 7 },
        annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
      },
    },
    {
      name: 'a zero-size layer',
      body: { ...ociImage, layers: [{ mediaType: OCI_GZIP, digest: B, size: 0 }] },
    },
    { name: 'an empty layers array', body: { ...ociImage, layers: [] } },
  ])('$name', ({ body }) => {
    const got = parseManifest(enc(body), MediaTypes.ociManifest);
    const want = body.layers.map((layer) => layer.mediaType);

    expect(got.kind, `parseManifest(${show(body)}).kind`).toBe('image');
    const layers = got.kind === 'image' ? got.layers.map((layer) => layer.mediaType) : [];
    expect(layers, `parseManifest(${show(body)}) layer types = ${show(layers)}`).toEqual(want);
  });

  it('keeps the config descriptor of the C17 empty config', () => {
    const config = { mediaType: OCI_EMPTY, digest: EMPTY_JSON, size: 2, data: 'e30=' };
    const got = parseManifest(enc({ ...ociImage, config }), null);

    expect(got.kind === 'image' && got.config, `config = ${show(got)}`).toMatchObject({
      mediaType: OCI_EMPTY,
      digest: EMPTY_JSON,
      size: 2,
    });
  });
});

describe('parseManifest refusals', () => {
  const imageWithLayer = (layer: Record<string, unknown>) => ({ ...ociImage, layers: [layer] });

  it.each([
    {
      name: 'schema 1 by Content-Type',
      body: { schemaVersion: 1, name: 'a', tag: 't', fsLayers: [] },
      contentType: SCHEMA1,
      code: 'UNSUPPORTED',
      status: 415,
      message: SCHEMA1,
    },
    {
      name: 'signed schema 1 by Content-Type',
      body: { schemaVersion: 1, name: 'a', tag: 't', fsLayers: [] },
      contentType: SCHEMA1_SIGNED,
      code: 'UNSUPPORTED',
      status: 415,
      message: SCHEMA1_SIGNED,
    },
    {
      name: 'schema 1 by shape under application/json',
      body: { schemaVersion: 1, name: 'a', tag: 't', fsLayers: [] },
      contentType: 'application/json',
      code: 'UNSUPPORTED',
      status: 415,
      message: 'Docker schema 1',
    },
    {
      name: 'an unknown Content-Type',
      body: ociImage,
      contentType: 'application/vnd.example.thing+json',
      code: 'UNSUPPORTED',
      status: 415,
      message: "'application/vnd.example.thing+json' is not supported",
    },
    {
      name: 'an unknown body mediaType under a generic Content-Type',
      body: { ...ociImage, mediaType: 'application/vnd.oci.artifact.manifest.v1+json' },
      contentType: 'application/json',
      code: 'UNSUPPORTED',
      status: 415,
      message: "'application/vnd.oci.artifact.manifest.v1+json' is not supported",
    },
    {
      name: 'not JSON',
      body: '<html>502 Bad Gateway</html>',
      contentType: MediaTypes.ociManifest,
      code: 'MANIFEST_INVALID',
      status: 502,
      message: 'manifest is not JSON',
    },
    {
      name: 'empty body',
      body: '',
      contentType: MediaTypes.ociManifest,
      code: 'MANIFEST_INVALID',
      status: 502,
      message: 'manifest is not JSON',
    },
    {
      name: 'a JSON array',
      body: [ociImage],
      contentType: MediaTypes.ociManifest,
      code: 'MANIFEST_INVALID',
      status: 502,
      message: 'manifest is not a JSON object',
    },
    {
      name: 'JSON null',
      body: 'null',
      contentType: null,
      code: 'MANIFEST_INVALID',
      status: 502,
      message: 'manifest is not a JSON object',
    },
    {
      name: 'a layer digest that is not sha256',
      body: imageWithLayer({ mediaType: OCI_GZIP, digest: 'sha256:abc', size: 1 }),
      contentType: MediaTypes.ociManifest,
      code: 'MANIFEST_INVALID',
      status: 502,
      message: 'layers.0.digest:',
    },
    {
      name: 'an upper-case layer digest',
      body: {
        ...ociImage,
        layers: [ociImage.layers[0], { ...ociImage.layers[0], digest: B.toUpperCase() }],
      },
      contentType: MediaTypes.ociManifest,
      code: 'MANIFEST_INVALID',
      status: 502,
      message: 'layers.1.digest:',
    },
    {
      name: 'a negative layer size',
      body: imageWithLayer({ mediaType: OCI_GZIP, digest: B, size: -1 }),
      contentType: MediaTypes.ociManifest,
      code: 'MANIFEST_INVALID',
      status: 502,
      message: 'layers.0.size:',
    },
    {
      name: 'a fractional config size',
      body: { ...ociImage, config: { ...ociImage.config, size: 1.5 } },
      contentType: MediaTypes.ociManifest,
      code: 'MANIFEST_INVALID',
      status: 502,
      message: 'config.size:',
    },
    {
      name: 'a size given as a string',
      body: { ...ociImage, config: { ...ociImage.config, size: '1469' } },
      contentType: MediaTypes.ociManifest,
      code: 'MANIFEST_INVALID',
      status: 502,
      message: 'config.size:',
    },
    {
      name: 'a config without a mediaType',
      body: { ...ociImage, config: { digest: A, size: 1 } },
      contentType: MediaTypes.ociManifest,
      code: 'MANIFEST_INVALID',
      status: 502,
      message: 'config.mediaType:',
    },
    {
      name: 'an image manifest without layers',
      body: { schemaVersion: 2, config: ociImage.config },
      contentType: MediaTypes.ociManifest,
      code: 'MANIFEST_INVALID',
      status: 502,
      message: 'layers:',
    },
    {
      name: 'an index entry with a bad digest',
      body: { ...ociIndex, manifests: [{ ...dockerList.manifests[0], digest: 'md5:00' }] },
      contentType: MediaTypes.ociIndex,
      code: 'MANIFEST_INVALID',
      status: 502,
      message: 'manifests.0.digest:',
    },
    {
      name: 'an index entry whose platform has no architecture',
      body: {
        ...ociIndex,
        manifests: [
          { mediaType: MediaTypes.ociManifest, digest: A, size: 1, platform: { os: 'linux' } },
        ],
      },
      contentType: MediaTypes.ociIndex,
      code: 'MANIFEST_INVALID',
      status: 502,
      message: 'manifests.0.platform.architecture:',
    },
    {
      name: 'schemaVersion 3',
      body: { ...ociImage, schemaVersion: 3 },
      contentType: MediaTypes.ociManifest,
      code: 'MANIFEST_INVALID',
      status: 502,
      message: 'schemaVersion:',
    },
    {
      name: 'an index body under an image Content-Type',
      body: ociIndex,
      contentType: MediaTypes.ociManifest,
      code: 'MANIFEST_INVALID',
      status: 502,
      message: 'config:',
    },
  ])('$name', ({ body, contentType, code, status, message }) => {
    const got = outcome(body, contentType);
    const want = { code, status };

    expect(
      got,
      `parseManifest(${show(body)}, ${contentType}) = ${show(got)}, want ${show(want)}`,
    ).toMatchObject(want);
    expect('message' in got && got.message, `parseManifest(${show(body)}).message`).toContain(
      message,
    );
  });

  it.each([
    { name: 'a caller sent it', status: 400 as const },
    { name: 'upstream sent it', status: 502 as const },
  ])('answers a bad body with $status when $name', ({ status }) => {
    const body = imageWithLayer({ mediaType: OCI_GZIP, digest: B, size: -5 });
    const got = outcome(body, MediaTypes.ociManifest, status);
    const notJson = outcome('{', MediaTypes.ociManifest, status);

    expect(got, `parseManifest(negative size, ${status}) = ${show(got)}`).toMatchObject({
      code: 'MANIFEST_INVALID',
      status,
    });
    expect(notJson, `parseManifest('{', ${status}) = ${show(notJson)}`).toMatchObject({
      code: 'MANIFEST_INVALID',
      status,
    });
  });

  it('names the media type it validated against in the detail', () => {
    const body = imageWithLayer({ mediaType: OCI_GZIP, digest: 'nope', size: 1 });
    let detail: unknown;
    try {
      parseManifest(enc(body), `${MediaTypes.ociManifest}; charset=utf-8`);
    } catch (error) {
      detail = (error as EdgeError).detail;
    }

    expect(detail, `detail = ${show(detail)}`).toEqual({ mediaType: MediaTypes.ociManifest });
  });
});

describe('normalizeMediaType', () => {
  it.each([
    { input: MediaTypes.ociIndex, want: MediaTypes.ociIndex },
    { input: `${MediaTypes.dockerManifest}; charset=utf-8`, want: MediaTypes.dockerManifest },
    { input: 'Application/JSON ; charset=UTF-8', want: 'application/json' },
    { input: '  text/plain  ', want: 'text/plain' },
    { input: '', want: '' },
    { input: null, want: '' },
    { input: undefined, want: '' },
  ])('normalizeMediaType($input) = $want', ({ input, want }) => {
    const got = normalizeMediaType(input);

    expect(got, `normalizeMediaType(${show(input)}) = ${show(got)}, want ${show(want)}`).toBe(want);
  });
});

describe('MANIFEST_ACCEPT', () => {
  it('lists the four manifest types and no schema 1 (C02)', () => {
    const got = MANIFEST_ACCEPT.split(',').map((type) => type.trim());
    const want = [
      MediaTypes.dockerManifest,
      MediaTypes.dockerList,
      MediaTypes.ociManifest,
      MediaTypes.ociIndex,
    ];

    expect([...got].sort(), `MANIFEST_ACCEPT = ${MANIFEST_ACCEPT}`).toEqual([...want].sort());
  });
});
