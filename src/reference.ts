/**
 * Docker's image reference grammar, `[registry[:port]/]repository[:tag][@digest]`, parsed
 * into a normalised `Reference` so that every spelling of one image gets one cache key
 * (`alpine`, `docker.io/alpine`, `index.docker.io/library/alpine:latest` are the same).
 * The grammar follows distribution's `reference/regexp.go`.
 */
import { isDigest, type Digest } from './digest';
import { fail } from './errors';

/** A parsed, normalised image reference. */
export interface Reference {
  /** Lowercase `host[:port]`; Docker Hub under any alias is `docker.io`. */
  readonly registry: string;
  /** Slash-separated path on that registry; Docker Hub's official images get `library/`. */
  readonly repository: string;
  /** The tag; `latest` when neither tag nor digest was given, null for a digest-only one. */
  readonly tag: string | null;
  /** The pinned digest; when a tag is also given, the digest decides and the tag is a label. */
  readonly digest: Digest | null;
}

/** The name Docker Hub goes by in canonical references. */
export const DOCKER_HUB = 'docker.io';

// Other names of Docker Hub; all of them must give one cache key (C29).
const DOCKER_HUB_ALIASES = new Set([DOCKER_HUB, 'index.docker.io', 'registry-1.docker.io']);

// Docker Hub serves its API from another host than the one in its references.
const DOCKER_HUB_API = 'registry-1.docker.io';

// distribution's limit on the length of `registry/repository`.
const NAME_MAX = 255;

// Far above any valid reference (name, tag, digest and aliases); only bounds regex work.
const INPUT_MAX = 1024;

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DOMAIN_COMPONENT = '[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?';
const DOMAIN_NAME = new RegExp(`^${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*$`);
const IPV6 = /^\[[0-9A-Fa-f:.]+\]$/;
const PORT = /^[1-9][0-9]{0,4}$/;

/**
 * Parses a docker reference, or throws `NAME_INVALID` with a message that says what is
 * wrong. Without a registry component the registry is `defaultRegistry`. A first component
 * is a registry only when it has a `.` or `:` or is exactly `localhost`; one-component names
 * on Docker Hub get `library/`; with neither tag nor digest the tag is `latest`.
 */
export function parseReference(input: string, defaultRegistry = DOCKER_HUB): Reference {
  checkCharacters(input);

  const { name, tag, digest } = splitReference(input);
  const { registry, path } = splitName(name, defaultRegistry);
  const repository = normaliseRepository(registry, path);
  checkNameLength(registry, repository);

  return { registry, repository, tag: tag ?? (digest === null ? 'latest' : null), digest };
}

/** The canonical text of a reference: `registry/repository[:tag][@digest]`. */
export function formatReference(ref: Reference): string {
  const tag = ref.tag === null ? '' : `:${ref.tag}`;
  const digest = ref.digest === null ? '' : `@${ref.digest}`;

  return `${repositoryName(ref)}${tag}${digest}`;
}

/** `registry/repository`, the name of the repository without tag or digest. */
export function repositoryName(ref: Pick<Reference, 'registry' | 'repository'>): string {
  return `${ref.registry}/${ref.repository}`;
}

/** The host that serves a registry's `/v2/` API: Docker Hub's differs, others are the same. */
export function upstreamHost(registry: string): string {
  return DOCKER_HUB_ALIASES.has(registry) ? DOCKER_HUB_API : registry;
}

function checkCharacters(input: string): void {
  if (input === '') throw fail.nameInvalid('reference is empty');
  if (input.length > INPUT_MAX) {
    throw fail.nameInvalid(`reference is too long: ${input.length} characters`);
  }

  // Controls, spaces and non-ASCII appear nowhere in the grammar; naming the position helps
  // when the culprit is invisible (a pasted newline or a non-breaking space).
  const bad = /[^\x21-\x7e]/.exec(input);
  if (bad !== null) {
    const what = /[\p{Cc}]/u.test(bad[0]) ? 'a control character' : 'whitespace or non-ASCII';
    throw fail.nameInvalid(`reference contains ${what} at position ${bad.index}`);
  }
}

interface ReferenceParts {
  name: string;
  tag: string | null;
  digest: Digest | null;
}

// The digest follows `@`; the tag follows the last `:` that comes after the last `/`, so
// that the port in `localhost:5000/img` is not read as a tag (C34).
function splitReference(input: string): ReferenceParts {
  const at = input.indexOf('@');
  const digest = at === -1 ? null : checkDigest(input.slice(at + 1));
  const nameAndTag = at === -1 ? input : input.slice(0, at);

  const colon = nameAndTag.lastIndexOf(':');
  if (colon === -1 || colon < nameAndTag.lastIndexOf('/')) {
    return { name: nameAndTag, tag: null, digest };
  }

  const tag = checkTag(nameAndTag.slice(colon + 1));
  return { name: nameAndTag.slice(0, colon), tag, digest };
}

function checkDigest(text: string): Digest {
  if (text === '') throw fail.nameInvalid('digest after "@" is empty');
  if (isDigest(text)) return text;

  const algorithm = text.includes(':') ? text.slice(0, text.indexOf(':')) : '';
  if (algorithm !== '' && algorithm !== 'sha256') {
    throw fail.nameInvalid(`digest algorithm '${algorithm}' is not supported; use sha256`);
  }
  throw fail.nameInvalid(`digest '${text}' is not sha256:<64 lowercase hex>`);
}

function checkTag(tag: string): string {
  if (tag === '') throw fail.nameInvalid('tag after ":" is empty');
  if (TAG.test(tag)) return tag;

  throw fail.nameInvalid(
    `tag '${tag}' is invalid: up to 128 of A-Z a-z 0-9 _ . -, not starting with . or -`,
  );
}

function splitName(name: string, defaultRegistry: string): { registry: string; path: string } {
  if (name === '') throw fail.nameInvalid('repository name is empty');
  if (name.startsWith('/')) throw fail.nameInvalid(`name '${name}' starts with a slash`);
  if (name.endsWith('/')) throw fail.nameInvalid(`name '${name}' ends with a slash`);
  if (name.includes('//')) throw fail.nameInvalid(`name '${name}' has an empty component (//)`);

  const slash = name.indexOf('/');
  const first = slash === -1 ? '' : name.slice(0, slash);
  if (slash === -1 || !isRegistryComponent(first)) {
    return { registry: normaliseRegistry(defaultRegistry), path: name };
  }

  return { registry: normaliseRegistry(first), path: name.slice(slash + 1) };
}

function isRegistryComponent(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost';
}

/**
 * A registry name as references write it, validated and normalised: lower case (hosts are
 * case-insensitive, and one registry must have one cache key), Docker Hub's aliases folded
 * into `docker.io`. Throws `NAME_INVALID` for a bad host or port.
 */
export function normaliseRegistry(registry: string): string {
  const { host, port } = splitHostPort(registry);
  if (!DOMAIN_NAME.test(host) && !IPV6.test(host)) {
    throw fail.nameInvalid(`registry host '${host}' is not a valid host name or address`);
  }
  if (port !== null && (!PORT.test(port) || Number(port) > 65535)) {
    throw fail.nameInvalid(`registry '${registry}' has an invalid port '${port}' (1-65535)`);
  }

  const lower = registry.toLowerCase();
  return DOCKER_HUB_ALIASES.has(lower) ? DOCKER_HUB : lower;
}

function splitHostPort(registry: string): { host: string; port: string | null } {
  // An IPv6 address is bracketed and full of colons; its port follows the bracket.
  const colon = registry.startsWith('[')
    ? registry.indexOf(':', registry.indexOf(']'))
    : registry.indexOf(':');

  if (colon === -1) return { host: registry, port: null };
  return { host: registry.slice(0, colon), port: registry.slice(colon + 1) };
}

function normaliseRepository(registry: string, path: string): string {
  for (const component of path.split('/')) checkPathComponent(component, path);

  // Docker Hub keeps official images under library/, and only there does `alpine` mean it.
  return registry === DOCKER_HUB && !path.includes('/') ? `library/${path}` : path;
}

function checkPathComponent(component: string, path: string): void {
  if (PATH_COMPONENT.test(component)) return;

  if (PATH_COMPONENT.test(component.toLowerCase())) {
    throw fail.nameInvalid(`repository '${path}' must be lowercase`);
  }
  throw fail.nameInvalid(
    `repository component '${component}' is invalid: use a-z 0-9 separated by . _ __ or -`,
  );
}

function checkNameLength(registry: string, repository: string): void {
  const length = registry.length + 1 + repository.length;
  if (length <= NAME_MAX) return;

  throw fail.nameInvalid(`name is too long: ${length} characters, at most ${NAME_MAX}`);
}
