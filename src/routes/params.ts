/**
 * Reading what a caller sent: the reference after a route prefix, the query options that
 * several routes share, and a bounded request body. Every value is validated here before
 * any use.
 */
import { z } from 'zod';
import { readAtMost } from '../bytes';
import type { Config } from '../config';
import { EdgeError, fail } from '../errors';
import { parseReference, type Reference } from '../reference';
import { MAX_MANIFEST_BYTES } from '../registry/manifest';
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
  if (value === null || value === '') return config.defaultPlatform;
  if (value.trim().toLowerCase() === 'all') {
    throw fail.unsupported(
      'platform=all is for /nix (one expression listing every platform); ' +
        'here name one platform, such as linux/arm64/v8 or aarch64-linux',
    );
  }
  return parsePlatform(value);
}

/** Whether the caller named a platform (rather than taking the default). */
export function platformNamed(url: URL): boolean {
  return (url.searchParams.get('platform') ?? '') !== '';
}

/** `?platform=` as `platformParam` reads it, or `all` for every platform of the image. */
export function platformsParam(url: URL, config: Config): Platform | 'all' {
  return url.searchParams.get('platform')?.trim().toLowerCase() === 'all'
    ? 'all'
    : platformParam(url, config);
}

// Nix's store-name grammar: its characters, its length, and no leading dot.
const storeName = z
  .string()
  .max(211, 'it is longer than 211 characters')
  .regex(
    /^[A-Za-z0-9+_?=-][A-Za-z0-9+._?=-]*$/,
    'use A-Z a-z 0-9 + - . _ ? = only, not starting with a dot',
  );

/**
 * A query parameter that names a derivation, such as `?altName=`: null when absent, else a
 * valid Nix store name or 400 `NAME_INVALID`.
 */
export function storeNameParam(url: URL, name: string): string | null {
  const value = url.searchParams.get(name);
  if (value === null) return null;

  const parsed = storeName.safeParse(value);
  if (parsed.success) return parsed.data;
  const reason = parsed.error.issues[0]?.message ?? 'invalid';
  throw fail.nameInvalid(`${name}=${JSON.stringify(value)} is not a Nix store name: ${reason}`);
}

/**
 * A request body that should be a manifest, read up to the manifest limit (4 MiB): a larger
 * one is 400 `MANIFEST_INVALID` before more of it is read.
 */
export async function manifestBody(request: Request): Promise<Uint8Array> {
  return await readAtMost(
    request,
    MAX_MANIFEST_BYTES,
    () =>
      new EdgeError('MANIFEST_INVALID', 400, `the body is larger than ${MAX_MANIFEST_BYTES} bytes`),
  );
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
