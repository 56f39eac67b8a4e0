import { describe, expect, it } from 'vitest';
import { EdgeError } from '../src/errors';
import {
  formatReference,
  parseReference,
  repositoryName,
  upstreamHost,
  type Reference,
} from '../src/reference';

const D = `sha256:${'ab'.repeat(32)}`;

const ref = (registry: string, repository: string, tag: string | null, digest: string | null) =>
  ({ registry, repository, tag, digest }) as Reference;

describe('parseReference', () => {
  it.each([
    // C29: Docker Hub's official images and host aliases share one name.
    { input: 'alpine', want: ref('docker.io', 'library/alpine', 'latest', null) },
    { input: 'docker.io/alpine:3.19', want: ref('docker.io', 'library/alpine', '3.19', null) },
    {
      input: 'index.docker.io/library/alpine',
      want: ref('docker.io', 'library/alpine', 'latest', null),
    },
    {
      input: 'registry-1.docker.io/library/alpine',
      want: ref('docker.io', 'library/alpine', 'latest', null),
    },
    { input: 'library/alpine', want: ref('docker.io', 'library/alpine', 'latest', null) },
    { input: 'myuser/app', want: ref('docker.io', 'myuser/app', 'latest', null) },
    { input: 'quay.io/alpine', want: ref('quay.io', 'alpine', 'latest', null) },
    // C34: a port or localhost is a registry, never a tag or a Hub namespace.
    {
      input: 'localhost:5000/team/api:1.2.3',
      want: ref('localhost:5000', 'team/api', '1.2.3', null),
    },
    { input: '127.0.0.1:5000/img', want: ref('127.0.0.1:5000', 'img', 'latest', null) },
    {
      input: `registry.example.test:8443/a/b@${D}`,
      want: ref('registry.example.test:8443', 'a/b', null, D),
    },
    { input: 'localhost/img:tag', want: ref('localhost', 'img', 'tag', null) },
    { input: 'myhost/img', want: ref('docker.io', 'myhost/img', 'latest', null) },
    // C36: tag and digest together are both kept; the digest decides.
    {
      input: `127.0.0.1:5000/libpod/alpine:pleaseignorethistag@${D}`,
      want: ref('127.0.0.1:5000', 'libpod/alpine', 'pleaseignorethistag', D),
    },
    { input: `alpine@${D}`, want: ref('docker.io', 'library/alpine', null, D) },
    // Hosts are case-insensitive; tags are not.
    { input: 'GHCR.IO/org/app:V1_x', want: ref('ghcr.io', 'org/app', 'V1_x', null) },
    { input: 'Docker.IO/alpine', want: ref('docker.io', 'library/alpine', 'latest', null) },
    { input: '[::1]:5000/img', want: ref('[::1]:5000', 'img', 'latest', null) },
    { input: 'localhost:5000', want: ref('docker.io', 'library/localhost', '5000', null) },
    { input: 'a/b/c/d:_x', want: ref('docker.io', 'a/b/c/d', '_x', null) },
    { input: 'ghcr.io/o/a.b_c__d---e', want: ref('ghcr.io', 'o/a.b_c__d---e', 'latest', null) },
    { input: `x:${'t'.repeat(128)}`, want: ref('docker.io', 'library/x', 't'.repeat(128), null) },
  ])('parses $input', ({ input, want }) => {
    const got = parseReference(input);

    expect(
      got,
      `parseReference(${input}) = ${JSON.stringify(got)}, want ${JSON.stringify(want)}`,
    ).toEqual(want);
  });

  it.each([
    { input: 'alpine', registry: 'ghcr.io', want: ref('ghcr.io', 'alpine', 'latest', null) },
    {
      input: 'alpine',
      registry: 'index.docker.io',
      want: ref('docker.io', 'library/alpine', 'latest', null),
    },
    { input: 'quay.io/a/b', registry: 'ghcr.io', want: ref('quay.io', 'a/b', 'latest', null) },
  ])('parses $input with default registry $registry', ({ input, registry, want }) => {
    const got = parseReference(input, registry);

    expect(got, `parseReference(${input}, ${registry}) = ${JSON.stringify(got)}`).toEqual(want);
  });

  it.each([
    { input: '', message: 'reference is empty' },
    { input: 'a'.repeat(1025), message: 'reference is too long: 1025 characters' },
    { input: 'Alpine', message: "repository 'Alpine' must be lowercase" },
    { input: 'docker.io/Library/alpine', message: "repository 'Library/alpine' must be lowercase" },
    { input: 'MyHost/img', message: "repository 'MyHost/img' must be lowercase" },
    { input: 'alpine:', message: 'tag after ":" is empty' },
    { input: 'alpine:-x', message: "tag '-x' is invalid" },
    { input: 'alpine:.x', message: "tag '.x' is invalid" },
    { input: `alpine:${'t'.repeat(129)}`, message: 'is invalid: up to 128' },
    { input: 'alpine:a+b', message: "tag 'a+b' is invalid" },
    { input: 'alpine@', message: 'digest after "@" is empty' },
    { input: 'alpine@sha256:abc', message: "digest 'sha256:abc' is not sha256:<64 lowercase hex>" },
    { input: `alpine@sha256:${'AB'.repeat(32)}`, message: 'is not sha256:<64 lowercase hex>' },
    { input: `alpine@sha512:${'ab'.repeat(64)}`, message: "algorithm 'sha512' is not supported" },
    { input: `alpine@${D}@${D}`, message: 'is not sha256:<64 lowercase hex>' },
    { input: `${'a'.repeat(238)}`, message: 'name is too long: 256 characters, at most 255' },
    { input: `quay.io/${'a/'.repeat(124)}bb`, message: 'name is too long: 258 characters' },
    { input: 'localhost:0/img', message: "registry 'localhost:0' has an invalid port '0'" },
    { input: 'localhost:65536/img', message: "has an invalid port '65536' (1-65535)" },
    { input: 'localhost:05000/img', message: "has an invalid port '05000'" },
    { input: 'localhost:/img', message: "has an invalid port ''" },
    { input: 'localhost:ab/img', message: "has an invalid port 'ab'" },
    { input: 'exa_mple.com/img', message: "registry host 'exa_mple.com' is not a valid host" },
    { input: '-bad.com/img', message: "registry host '-bad.com' is not a valid host" },
    { input: '/alpine', message: "name '/alpine' starts with a slash" },
    { input: 'alpine/', message: "name 'alpine/' ends with a slash" },
    { input: 'quay.io/a//b', message: "name 'quay.io/a//b' has an empty component (//)" },
    { input: 'quay.io/', message: "name 'quay.io/' ends with a slash" },
    { input: ':tag', message: 'repository name is empty' },
    { input: `@${D}`, message: 'repository name is empty' },
    { input: 'alp ine', message: 'contains whitespace or non-ASCII at position 3' },
    { input: 'alpine\n', message: 'contains a control character at position 6' },
    { input: 'alp\u0000ine', message: 'contains a control character at position 3' },
    { input: 'alpíne', message: 'contains whitespace or non-ASCII at position 3' },
    { input: 'a..b', message: "repository component 'a..b' is invalid" },
    { input: 'a_-b', message: "repository component 'a_-b' is invalid" },
    { input: 'a___b', message: "repository component 'a___b' is invalid" },
    { input: '_a', message: "repository component '_a' is invalid" },
    { input: 'quay.io/a:b/c', message: "repository component 'a:b' is invalid" },
    { input: 'quay.io/a/b:c:d', message: "repository component 'b:c' is invalid" },
  ])('rejects $input', ({ input, message }) => {
    const got = catchError(() => parseReference(input));

    expect(got, `parseReference(${JSON.stringify(input)}) threw ${String(got)}`).toBeInstanceOf(
      EdgeError,
    );
    const error = got as EdgeError;
    expect(error.code, `parseReference(${JSON.stringify(input)}).code`).toBe('NAME_INVALID');
    expect(error.status).toBe(400);
    expect(error.message, `parseReference(${JSON.stringify(input)}).message`).toContain(message);
  });

  it('accepts a name of exactly 255 characters', () => {
    const input = 'a'.repeat(255 - 'docker.io/library/'.length);

    expect(repositoryName(parseReference(input)).length).toBe(255);
  });
});

describe('formatReference', () => {
  it.each([
    { input: 'alpine', want: 'docker.io/library/alpine:latest' },
    { input: 'index.docker.io/library/alpine:3.19', want: 'docker.io/library/alpine:3.19' },
    { input: `quay.io/a/b@${D}`, want: `quay.io/a/b@${D}` },
    { input: `localhost:5000/a:t@${D}`, want: `localhost:5000/a:t@${D}` },
  ])('formats $input as $want', ({ input, want }) => {
    const got = formatReference(parseReference(input));

    expect(got, `formatReference(parseReference(${input})) = ${got}, want ${want}`).toBe(want);
  });

  it.each(['alpine', 'ghcr.io/o/a:1', `quay.io/a/b:x@${D}`, `localhost/a@${D}`])(
    'reads back what it writes for %s',
    (input) => {
      const once = parseReference(input);

      expect(parseReference(formatReference(once)), formatReference(once)).toEqual(once);
    },
  );
});

describe('repositoryName', () => {
  it.each([
    { input: 'alpine:3', want: 'docker.io/library/alpine' },
    { input: `localhost:5000/team/api:1@${D}`, want: 'localhost:5000/team/api' },
  ])('repositoryName($input) = $want', ({ input, want }) => {
    expect(repositoryName(parseReference(input))).toBe(want);
  });
});

describe('upstreamHost', () => {
  it.each([
    { registry: 'docker.io', want: 'registry-1.docker.io' },
    { registry: 'index.docker.io', want: 'registry-1.docker.io' },
    { registry: 'ghcr.io', want: 'ghcr.io' },
    { registry: '127.0.0.1:5000', want: '127.0.0.1:5000' },
  ])('upstreamHost($registry) = $want', ({ registry, want }) => {
    const got = upstreamHost(registry);

    expect(got, `upstreamHost(${registry}) = ${got}, want ${want}`).toBe(want);
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}
