/**
 * Reading what a caller put in a URL: the reference after a route prefix, and the query
 * options that several routes share. Every value is validated here before any use.
 */
import type { Config } from '../config';
import { fail } from '../errors';
import { parseReference, type Reference } from '../reference';
import { parsePlatform, type Platform } from '../registry/platform';

/** The reference written after `prefix` in the path (`/nix/<reference>`), percent-decoded. */
export function referenceAfter(url: URL, prefix: string, config: Config): Reference {
  return parseReference(pathAfter(url, prefix), config.defaultRegistry);
}

/** The decoded path after `prefix`, or `NAME_INVALID` when it is not valid percent-encoding. */
export function pathAfter(url: URL, prefix: string): string {
  const raw = url.pathname.slice(prefix.length);
  try {
    return decodeURIComponent(raw);
  } catch {
    throw fail.nameInvalid(`'${raw}' is not valid percent-encoding`);
  }
}

/** `?platform=`, as an OCI platform or a Nix system; the configured default when absent. */
export function platformParam(url: URL, config: Config): Platform {
  const value = url.searchParams.get('platform');
  return value === null || value === '' ? config.defaultPlatform : parsePlatform(value);
}

/** A query parameter that must be one of `allowed`; the first is the default. */
export function choiceParam<T extends string>(url: URL, name: string, allowed: readonly T[]): T {
  const value = url.searchParams.get(name);
  if (value === null || value === '') return allowed[0]!;
  if ((allowed as readonly string[]).includes(value)) return value as T;

  throw fail.unsupported(`${name}=${value} is not supported; use one of: ${allowed.join(', ')}`, {
    [name]: allowed,
  });
}

/** The origin written into generated URLs: `PUBLIC_URL`, else the request's own. */
export function publicOrigin(url: URL, config: Config): string {
  return config.publicUrl ?? url.origin;
}
