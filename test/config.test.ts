// Configuration: parseConfig of wrangler [vars] (REGISTRIES and the rest) and allowedRegistry.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { allowedRegistry, type AllowedRegistry, type Env, parseConfig } from '../src/config';
import { EdgeError } from '../src/errors';

// src/config.ts names the Workers binding types in `Env`; test/tsconfig.json loads Node's types,
// not @cloudflare/workers-types (whose globals clash with DOM), so give the two names a shape
// here. The type parameter matches workers-types, so the declarations merge if it is added.
declare global {
  interface KVNamespace<Key extends string = string> {}
  interface R2Bucket {}
}

type Vars = Partial<Record<Exclude<keyof Env, 'RECORDS' | 'BLOBS'>, unknown>>;

/** An `Env` with these vars; the bindings are never touched by parseConfig. */
const env = (vars: Vars): Env => ({ RECORDS: {}, BLOBS: {}, ...vars }) as unknown as Env;

const show = (value: unknown) =>
  JSON.stringify(value, (_key, v: unknown) => (v instanceof Map ? Object.fromEntries(v) : v));

const hub: AllowedRegistry = {
  name: 'docker.io',
  origin: 'https://registry-1.docker.io',
  insecure: false,
};
const ghcr: AllowedRegistry = { name: 'ghcr.io', origin: 'https://ghcr.io', insecure: false };
const quay: AllowedRegistry = { name: 'quay.io', origin: 'https://quay.io', insecure: false };
const local = (name: string): AllowedRegistry => ({
  name,
  origin: `http://${name}`,
  insecure: true,
});

/** The error `fn` throws, or undefined. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

/** The `problems` of the config error parseConfig throws for `vars`, or what came instead. */
function problems(vars: Vars): unknown {
  let config: unknown;
  const error = thrown(() => (config = parseConfig(env(vars))));
  if (error === undefined) return { accepted: JSON.parse(show(config)) as unknown };
  if (!(error instanceof EdgeError)) return { threw: String(error) };

  expect(error.code, `parseConfig(${show(vars)}).code`).toBe('UNAVAILABLE');
  expect(error.status, `parseConfig(${show(vars)}).status`).toBe(500);
  expect(error.message, `parseConfig(${show(vars)}).message`).toContain('misconfigured');
  return (error.detail as { problems?: unknown } | undefined)?.problems;
}

describe('parseConfig REGISTRIES', () => {
  it.each([
    {
      name: 'the DESIGN example',
      input: 'docker.io,ghcr.io,http://127.0.0.1:5000',
      want: [hub, ghcr, local('127.0.0.1:5000')],
    },
    {
      name: 'spaces around entries',
      input: '  docker.io ,\tghcr.io , http://127.0.0.1:5000  ',
      want: [hub, ghcr, local('127.0.0.1:5000')],
    },
    { name: 'trailing and doubled commas', input: 'ghcr.io,,quay.io,, ,', want: [ghcr, quay] },
    { name: 'upper case', input: 'GHCR.IO,Docker.IO', want: [ghcr, hub] },
    {
      name: 'an upper-case HTTP:// prefix',
      input: 'HTTP://LOCALHOST:5000',
      want: [local('localhost:5000')],
    },
    { name: 'an https:// prefix is the default', input: 'https://quay.io', want: [quay] },
    {
      name: 'a trailing slash',
      input: 'https://quay.io/,http://localhost/',
      want: [quay, local('localhost')],
    },
    { name: 'a duplicate entry appears once', input: 'ghcr.io,GHCR.io', want: [ghcr] },
    {
      name: 'a port on an https registry',
      input: 'registry.example.invalid:8443',
      want: [
        {
          name: 'registry.example.invalid:8443',
          origin: 'https://registry.example.invalid:8443',
          insecure: false,
        },
      ],
    },
    // C29: Docker Hub's aliases name one registry, the one references are normalised to.
    { name: 'C29: index.docker.io is Docker Hub', input: 'index.docker.io', want: [hub] },
    {
      name: 'C29: registry-1.docker.io is Docker Hub',
      input: 'registry-1.docker.io',
      want: [hub],
    },
    // C34: parseReference accepts a bracketed IPv6 registry, so the allow-list must too.
    { name: 'a bracketed IPv6 registry', input: 'http://[::1]:5000', want: [local('[::1]:5000')] },
  ])('$name', ({ input, want }) => {
    let got: unknown;
    const error = thrown(() => {
      got = [...parseConfig(env({ REGISTRIES: input })).registries.values()];
    });
    if (error instanceof EdgeError) got = { threw: error.message, detail: error.detail };

    expect(
      got,
      `parseConfig(REGISTRIES=${input}).registries = ${show(got)}, want ${show(want)}`,
    ).toEqual(want);
  });

  it('keys each registry by its name', () => {
    const config = parseConfig(env({ REGISTRIES: 'docker.io,http://127.0.0.1:5000' }));
    const got = [...config.registries.keys()];

    expect(got, `registries keys = ${show(got)}`).toEqual(['docker.io', '127.0.0.1:5000']);
  });

  it.each([
    {
      name: 'REGISTRIES missing',
      input: undefined,
      want: ['REGISTRIES: not set: list the registry hosts the edge may contact'],
    },
    { name: 'REGISTRIES empty', input: '', want: ['REGISTRIES: lists no registry'] },
    { name: 'only commas', input: ' , ,', want: ['REGISTRIES: lists no registry'] },
    { name: 'a space inside', input: 'a b', want: ["REGISTRIES.0: 'a b' is not host[:port]"] },
    {
      name: 'a bare http://',
      input: 'http://',
      want: ["REGISTRIES.0: 'http://' is not host[:port]"],
    },
    {
      name: 'every bad entry, each at its index',
      input: 'ghcr.io,a b,http://,quay.io/org',
      want: [
        "REGISTRIES.1: 'a b' is not host[:port]",
        "REGISTRIES.2: 'http://' is not host[:port]",
        "REGISTRIES.3: 'quay.io/org' is not host[:port]",
      ],
    },
    {
      name: 'a path',
      input: 'ghcr.io/v2',
      want: ["REGISTRIES.0: 'ghcr.io/v2' is not host[:port]"],
    },
    {
      name: 'another scheme',
      input: 'ftp://ghcr.io',
      want: ["REGISTRIES.0: 'ftp://ghcr.io' is not host[:port]"],
    },
    { name: 'an underscore', input: 'exa_mple.com', want: ["REGISTRIES.0: 'exa_mple.com'"] },
    { name: 'an empty port', input: 'localhost:', want: ["REGISTRIES.0: 'localhost:'"] },
    // C34: ports parseReference refuses can never match a reference, so they are config errors.
    { name: 'port 65536', input: 'http://127.0.0.1:65536', want: ['REGISTRIES.0:'] },
    { name: 'port 0', input: 'http://127.0.0.1:0', want: ['REGISTRIES.0:'] },
  ])('fails closed on $name', ({ input, want }) => {
    const got = problems({ REGISTRIES: input });

    expect(got, `parseConfig(REGISTRIES=${show(input)}) problems = ${show(got)}`).toEqual(
      want.map((problem) => expect.stringContaining(problem)),
    );
  });
});

describe('parseConfig other vars', () => {
  const REGISTRIES = 'docker.io';
  const badTtl = (name: string, value: string) => ({
    name,
    vars: { TAG_TTL_SECONDS: value },
    want: ['TAG_TTL_SECONDS: must be a whole number of seconds from 0 to 31536000'],
  });

  it('fills in the defaults', () => {
    const got = parseConfig(env({ REGISTRIES }));
    const want = {
      defaultRegistry: 'docker.io',
      defaultPlatform: { os: 'linux', architecture: 'amd64' },
      tagTtlSeconds: 300,
      staleIfErrorSeconds: 86_400,
      // The Free plan's cap: a guess too low costs retries, one too high cut answers.
      subrequestLimit: 50,
      publicUrl: null,
    };

    expect({ ...got, registries: undefined }, `parseConfig(defaults) = ${show(got)}`).toEqual({
      ...want,
      registries: undefined,
    });
  });

  it.each([
    { name: 'TAG_TTL_SECONDS', vars: { TAG_TTL_SECONDS: '3600' }, want: { tagTtlSeconds: 3600 } },
    { name: 'TAG_TTL_SECONDS 0', vars: { TAG_TTL_SECONDS: '0' }, want: { tagTtlSeconds: 0 } },
    // wrangler.toml `TAG_TTL_SECONDS = 60` arrives as a number, not a string.
    {
      name: 'TAG_TTL_SECONDS as a TOML number',
      vars: { TAG_TTL_SECONDS: 60 },
      want: { tagTtlSeconds: 60 },
    },
    {
      name: 'PUBLIC_URL without a trailing slash',
      vars: { PUBLIC_URL: 'https://edge.example.invalid' },
      want: { publicUrl: 'https://edge.example.invalid' },
    },
    {
      name: 'PUBLIC_URL with trailing slashes removed',
      vars: { PUBLIC_URL: 'https://edge.example.invalid//' },
      want: { publicUrl: 'https://edge.example.invalid' },
    },
    {
      name: 'PUBLIC_URL with a port and a path prefix (C54)',
      vars: { PUBLIC_URL: 'http://127.0.0.1:8788/dockerhub/' },
      want: { publicUrl: 'http://127.0.0.1:8788/dockerhub' },
    },
    {
      name: 'DEFAULT_PLATFORM as an OCI platform',
      vars: { DEFAULT_PLATFORM: ' linux/arm64/v8 ' },
      want: { defaultPlatform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    },
    {
      name: 'DEFAULT_PLATFORM as a Nix system (C09)',
      vars: { DEFAULT_PLATFORM: 'armv7l-linux' },
      want: { defaultPlatform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
    },
    {
      name: 'SUBREQUEST_LIMIT',
      vars: { SUBREQUEST_LIMIT: '10000' },
      want: { subrequestLimit: 10_000 },
    },
    {
      name: 'SUBREQUEST_LIMIT as a TOML number',
      vars: { SUBREQUEST_LIMIT: 1000 },
      want: { subrequestLimit: 1000 },
    },
    {
      name: 'DEFAULT_REGISTRY trimmed and lower-cased',
      vars: { DEFAULT_REGISTRY: ' GHCR.IO ' },
      want: { defaultRegistry: 'ghcr.io' },
    },
  ])('reads $name', ({ vars, want }) => {
    const got = parseConfig(env({ REGISTRIES, ...vars }));

    expect(got, `parseConfig(${show(vars)}) = ${show(got)}, want ${show(want)}`).toMatchObject(
      want,
    );
  });

  it.each([
    badTtl('TAG_TTL_SECONDS non-numeric', 'abc'),
    badTtl('TAG_TTL_SECONDS with a unit', '5m'),
    badTtl('TAG_TTL_SECONDS negative', '-1'),
    badTtl('TAG_TTL_SECONDS fractional', '1.5'),
    badTtl('TAG_TTL_SECONDS over a year', '31536001'),
    // An empty var is no number; coercing it to 0 would silently turn tag caching off.
    badTtl('TAG_TTL_SECONDS empty', ''),
    {
      name: 'SUBREQUEST_LIMIT negative',
      vars: { SUBREQUEST_LIMIT: '-5' },
      want: ['SUBREQUEST_LIMIT: must be a whole number from 20 to 10000000'],
    },
    {
      name: 'SUBREQUEST_LIMIT not a number',
      vars: { SUBREQUEST_LIMIT: 'lots' },
      want: ['SUBREQUEST_LIMIT: must be a whole number from 20 to 10000000'],
    },
    {
      // Too few to resolve anything: every request would fail with a puzzling 503.
      name: 'SUBREQUEST_LIMIT too small',
      vars: { SUBREQUEST_LIMIT: '3' },
      want: ['SUBREQUEST_LIMIT: must be a whole number from 20 to 10000000'],
    },
    {
      name: 'PUBLIC_URL not a URL',
      vars: { PUBLIC_URL: 'edge.example.invalid' },
      want: ['PUBLIC_URL: must be an http(s) URL'],
    },
    {
      name: 'PUBLIC_URL with another scheme',
      vars: { PUBLIC_URL: 'ftp://edge.example.invalid/' },
      want: ['PUBLIC_URL: must be an http(s) URL'],
    },
    {
      name: 'DEFAULT_PLATFORM neither OCI nor a Nix system',
      vars: { DEFAULT_PLATFORM: 'pdp11' },
      want: ["DEFAULT_PLATFORM: 'pdp11' is not a platform"],
    },
    {
      name: 'DEFAULT_PLATFORM garbage',
      vars: { DEFAULT_PLATFORM: 'amd64' },
      want: ["DEFAULT_PLATFORM: 'amd64' is not a platform"],
    },
    // Every [vars] input is validated before use (DESIGN invariant 5).
    {
      name: 'DEFAULT_REGISTRY not a host',
      vars: { DEFAULT_REGISTRY: 'a b' },
      want: ['DEFAULT_REGISTRY:'],
    },
    // parseConfig promises to name every variable that is wrong, not only the first kind.
    // Past the safe integers a value fails two checks with one message: it is reported once.
    badTtl('TAG_TTL_SECONDS beyond the safe integers', '99999999999999999999'),
    {
      name: 'several vars at once, DEFAULT_PLATFORM included',
      vars: { REGISTRIES: undefined, TAG_TTL_SECONDS: 'x', DEFAULT_PLATFORM: 'bogus' },
      want: ['REGISTRIES:', 'TAG_TTL_SECONDS:', "DEFAULT_PLATFORM: 'bogus' is not a platform"],
    },
  ])('fails closed on $name', ({ vars, want }) => {
    const got = problems({ REGISTRIES, ...vars });

    expect(got, `parseConfig(${show(vars)}) problems = ${show(got)}, want ${show(want)}`).toEqual(
      expect.arrayContaining(want.map((problem) => expect.stringContaining(problem))),
    );
    expect(got).toHaveLength(want.length);
  });
});

describe('allowedRegistry', () => {
  const config = parseConfig(env({ REGISTRIES: 'docker.io,ghcr.io,http://127.0.0.1:5000' }));

  afterEach(() => {
    vi.restoreAllMocks();
  });

  it.each([
    { name: 'docker.io', want: hub },
    { name: 'ghcr.io', want: ghcr },
    { name: '127.0.0.1:5000', want: local('127.0.0.1:5000') },
  ])('allows $name', ({ name, want }) => {
    const got = allowedRegistry(config, name);

    expect(got, `allowedRegistry(${name}) = ${show(got)}, want ${show(want)}`).toEqual(want);
  });

  it.each([
    { name: 'quay.io' },
    { name: '127.0.0.1:5001' },
    { name: '127.0.0.1' },
    { name: 'registry-1.docker.io.example.invalid' },
  ])('denies $name without any request', ({ name }) => {
    const fetchSpy = vi.spyOn(globalThis, 'fetch');
    const got = thrown(() => allowedRegistry(config, name));

    expect(got, `allowedRegistry(${name}) threw ${String(got)}`).toBeInstanceOf(EdgeError);
    const error = got as EdgeError;
    expect({ code: error.code, status: error.status }, `allowedRegistry(${name})`).toEqual({
      code: 'DENIED',
      status: 403,
    });
    expect(error.message, `allowedRegistry(${name}).message`).toBe(
      `registry '${name}' is not allowed by this edge`,
    );
    expect(error.detail, `allowedRegistry(${name}).detail`).toEqual({
      allowed: ['docker.io', 'ghcr.io', '127.0.0.1:5000'],
    });
    expect(fetchSpy, 'fetch calls').not.toHaveBeenCalled();
  });
});
