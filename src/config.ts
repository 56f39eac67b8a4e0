/**
 * The worker's configuration: wrangler.toml `[vars]` and bindings, parsed once with zod into
 * a typed `Config`. A bad value fails closed: every request is answered with a 500 that names
 * the variable and how to fix it, never with an empty allow-list.
 */
import { z } from 'zod';
import { EdgeError } from './errors';
import { parsePlatform, type Platform } from './registry/platform';

/** The bindings and vars the worker is deployed with (see wrangler.toml). */
export interface Env {
  RECORDS: KVNamespace;
  BLOBS: R2Bucket;
  REGISTRIES?: string;
  DEFAULT_REGISTRY?: string;
  DEFAULT_PLATFORM?: string;
  TAG_TTL_SECONDS?: string;
  PUBLIC_URL?: string;
}

/** A registry the edge may contact, and how to reach its API. */
export interface AllowedRegistry {
  /** The name as it appears in references: `docker.io`, `ghcr.io`, `127.0.0.1:5000`. */
  name: string;
  /** Origin of its `/v2/` API: `https://registry-1.docker.io`, `http://127.0.0.1:5000`. */
  origin: string;
  /** Plain HTTP allowed: only for registries marked with `http://` in `REGISTRIES`. */
  insecure: boolean;
}

/** The validated configuration every module reads. */
export interface Config {
  registries: ReadonlyMap<string, AllowedRegistry>;
  defaultRegistry: string;
  defaultPlatform: Platform;
  tagTtlSeconds: number;
  publicUrl: string | null;
}

// Docker Hub is named docker.io in references but serves its API from another host.
const API_HOSTS: Record<string, string> = { 'docker.io': 'registry-1.docker.io' };

const HOST = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::\d{1,5})?$/;

const registryEntry = z
  .string()
  .trim()
  .toLowerCase()
  .transform((entry, ctx): AllowedRegistry | typeof z.NEVER => {
    const insecure = entry.startsWith('http://');
    const name = entry.replace(/^https?:\/\//, '').replace(/\/+$/, '');
    if (!HOST.test(name)) {
      ctx.addIssue({ code: 'custom', message: `'${entry}' is not host[:port]` });
      return z.NEVER;
    }
    const host = API_HOSTS[name] ?? name;
    return { name, origin: `${insecure ? 'http' : 'https'}://${host}`, insecure };
  });

const envSchema = z.object({
  REGISTRIES: z
    .string({ error: 'REGISTRIES is not set: list the registry hosts the edge may contact' })
    .transform((list) => list.split(',').filter((entry) => entry.trim() !== ''))
    .pipe(z.array(registryEntry).min(1, 'REGISTRIES lists no registry')),
  DEFAULT_REGISTRY: z.string().trim().toLowerCase().default('docker.io'),
  DEFAULT_PLATFORM: z.string().trim().default('linux/amd64'),
  TAG_TTL_SECONDS: z.coerce.number().int().min(0).max(31_536_000).default(300),
  PUBLIC_URL: z
    .url({ protocol: /^https?$/, error: 'PUBLIC_URL must be an http(s) origin' })
    .transform((url) => url.replace(/\/+$/, ''))
    .optional(),
});

/** Parses the environment, or throws a 500 `EdgeError` naming every variable that is wrong. */
export function parseConfig(env: Env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw configError(problems);
  }

  const vars = parsed.data;
  const registries = new Map(vars.REGISTRIES.map((registry) => [registry.name, registry]));
  let defaultPlatform: Platform;
  try {
    defaultPlatform = parsePlatform(vars.DEFAULT_PLATFORM);
  } catch {
    throw configError([`DEFAULT_PLATFORM: '${vars.DEFAULT_PLATFORM}' is not a platform`]);
  }

  return {
    registries,
    defaultRegistry: vars.DEFAULT_REGISTRY,
    defaultPlatform,
    tagTtlSeconds: vars.TAG_TTL_SECONDS,
    publicUrl: vars.PUBLIC_URL ?? null,
  };
}

function configError(problems: string[]): EdgeError {
  return new EdgeError(
    'UNAVAILABLE',
    500,
    'hocker-edge is misconfigured; fix these [vars] in wrangler.toml',
    { problems },
  );
}

/** The allowed registry for a reference's registry name, or `DENIED` without any request. */
export function allowedRegistry(config: Config, name: string): AllowedRegistry {
  const registry = config.registries.get(name);
  if (registry === undefined) {
    throw new EdgeError('DENIED', 403, `registry '${name}' is not allowed by this edge`, {
      allowed: [...config.registries.keys()],
    });
  }
  return registry;
}
