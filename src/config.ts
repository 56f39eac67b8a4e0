/**
 * The worker's configuration: wrangler.toml `[vars]` and bindings, parsed once with zod into
 * a typed `Config`. A bad value fails closed: every request is answered with a 500 that names
 * the variable and how to fix it, never with an empty allow-list.
 */
import { z } from 'zod';
import { EdgeError } from './errors';
import { normaliseRegistry, upstreamHost } from './reference';
import { parsePlatform, type Platform } from './registry/platform';

/** The bindings and vars the worker is deployed with (see wrangler.toml). */
export interface Env {
  RECORDS: KVNamespace;
  BLOBS: R2Bucket;
  REGISTRIES?: string;
  DEFAULT_REGISTRY?: string;
  DEFAULT_PLATFORM?: string;
  TAG_TTL_SECONDS?: string | number;
  STALE_IF_ERROR_SECONDS?: string | number;
  SUBREQUEST_LIMIT?: string | number;
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
  /** How long past its TTL a known tag may be answered when upstream fails. */
  staleIfErrorSeconds: number;
  /** Subrequests one invocation may make: the plan's cap, as `[limits] subrequests` sets it. */
  subrequestLimit: number;
  publicUrl: string | null;
}

const registryEntry = z
  .string()
  .trim()
  .transform((entry, ctx): AllowedRegistry | typeof z.NEVER => {
    const insecure = /^http:\/\//i.test(entry);
    const bare = entry.replace(/^https?:\/\//i, '').replace(/\/+$/, '');
    try {
      // The same rules as references, so that every entry can match one.
      const name = normaliseRegistry(bare);
      return { name, origin: `${insecure ? 'http' : 'https'}://${upstreamHost(name)}`, insecure };
    } catch {
      ctx.addIssue({ code: 'custom', message: `'${entry}' is not host[:port]` });
      return z.NEVER;
    }
  });

const registryName = z
  .string()
  .trim()
  .transform((name, ctx) => {
    try {
      return normaliseRegistry(name);
    } catch {
      ctx.addIssue({ code: 'custom', message: `'${name}' is not a registry host[:port]` });
      return z.NEVER;
    }
  });

const platform = z.string().transform((value, ctx): Platform | typeof z.NEVER => {
  try {
    return parsePlatform(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: `'${value}' is not a platform` });
    return z.NEVER;
  }
});

// A TOML number arrives as a number, a `--var` as a string; either must be a whole number
// in range. Messages leave out the variable's name: the report puts it in front.
function wholeNumber(min: number, max: number, unit = '') {
  const expected = `must be a whole number${unit} from ${min} to ${max}`;
  return z
    .union([z.number(), z.string().trim().regex(/^\d+$/).transform(Number)], { error: expected })
    .pipe(z.number({ error: expected }).int(expected).min(min, expected).max(max, expected));
}

const seconds = () => wholeNumber(0, 31_536_000, ' of seconds');

const envSchema = z.object({
  REGISTRIES: z
    .string({ error: 'not set: list the registry hosts the edge may contact' })
    .transform((list) => list.split(',').filter((entry) => entry.trim() !== ''))
    .pipe(z.array(registryEntry).min(1, 'lists no registry')),
  DEFAULT_REGISTRY: registryName.default('docker.io'),
  DEFAULT_PLATFORM: platform.default(parsePlatform('linux/amd64')),
  TAG_TTL_SECONDS: seconds().default(300),
  STALE_IF_ERROR_SECONDS: seconds().default(86_400),
  // Unset, assume the strictest plan's cap: a lower guess only costs retries, a higher one
  // lets the platform cut an answer part-way. Fewer than 20 cannot serve a one-layer archive.
  SUBREQUEST_LIMIT: wholeNumber(20, 10_000_000).default(50),
  PUBLIC_URL: z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
    .refine((url) => !/[?#]/.test(url), 'PUBLIC_URL takes no query or fragment')
    .transform((url) => url.replace(/\/+$/, ''))
    .optional(),
});

/** Parses the environment, or throws a 500 `EdgeError` naming every variable that is wrong. */
export function parseConfig(env: Env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    // One value can fail several checks with the same message (a huge number: not a safe
    // integer, and over the maximum); each problem is reported once.
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join('.')}: ${issue.message}`,
    );
    throw configError([...new Set(problems)]);
  }

  const vars = parsed.data;
  return {
    registries: new Map(vars.REGISTRIES.map((registry) => [registry.name, registry])),
    defaultRegistry: vars.DEFAULT_REGISTRY,
    defaultPlatform: vars.DEFAULT_PLATFORM,
    tagTtlSeconds: vars.TAG_TTL_SECONDS,
    staleIfErrorSeconds: vars.STALE_IF_ERROR_SECONDS,
    subrequestLimit: vars.SUBREQUEST_LIMIT,
    publicUrl: vars.PUBLIC_URL ?? null,
  };
}

function configError(problems: string[]): EdgeError {
  return new EdgeError(
    'UNAVAILABLE',
    500,
    'hocker-edge is misconfigured; fix these vars (wrangler.toml [vars], or --var)',
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
