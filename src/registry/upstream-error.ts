/**
 * What a registry's refusals and failures mean to the caller: each upstream status becomes
 * the `EdgeError` with the matching OCI code, keeping the registry's own words (its error
 * body, read up to a limit) in the message and detail.
 */
import { readPrefix } from '../bytes';
import type { AllowedRegistry } from '../config';
import { EdgeError, fail } from '../errors';
import type { UpstreamRequest } from './client';

const ERROR_BODY_LIMIT = 64 * 1024;

/** Whether `error` is a registry's refusal of HEAD itself: the same request as GET may work. */
export function isHeadRefused(error: unknown): boolean {
  return error instanceof EdgeError && error.code === 'UNSUPPORTED' && error.status === 405;
}

/**
 * The error for a successful answer that is a web page where a manifest or tag list should
 * be (a web server on the registry's port, a login page), or null for anything else.
 */
export function webPageInstead(
  registry: AllowedRegistry,
  request: UpstreamRequest,
  response: Response,
): EdgeError | null {
  const type = response.headers.get('Content-Type') ?? '';
  if (!response.ok || request.kind === 'blobs' || !/^\s*text\/html\b/i.test(type)) return null;

  const wanted = request.kind === 'tags' ? 'a tag list' : 'a manifest';
  return fail.unavailable(
    `registry ${registry.name} answered an HTML page (text/html) for ${describe(request)}, ` +
      `not ${wanted}: is ${registry.origin}/v2/ a registry?`,
  );
}

function describe(request: UpstreamRequest): string {
  if (request.kind === 'tags') return 'the tag list';
  return `${request.kind === 'manifests' ? 'manifest' : 'blob'} ${request.reference}`;
}

const NOT_FOUND_CODES = new Set(['MANIFEST_UNKNOWN', 'BLOB_UNKNOWN', 'NAME_UNKNOWN']);

/** Maps an upstream failure to the error the caller sees, keeping upstream's own words. */
export async function upstreamError(
  registry: AllowedRegistry,
  request: UpstreamRequest,
  response: Response,
  credentialed: boolean,
): Promise<EdgeError> {
  const upstream = await readErrorBody(response);
  const detail = { upstream: { status: response.status, errors: upstream.errors } };
  const what = describe(request);
  const said = upstream.message ? `: ${upstream.message}` : '';

  switch (response.status) {
    case 401:
      // Docker Hub answers 401, not 404, for a repository that does not exist: without
      // credentials the two cannot be told apart, and the message says so.
      return new EdgeError(
        'UNAUTHORIZED',
        401,
        `registry ${registry.name} refused ${what}${said}` +
          (credentialed
            ? ''
            : ': the repository does not exist, or it needs credentials (send them to the edge)'),
        detail,
      );
    case 403:
      return new EdgeError(
        'DENIED',
        403,
        `registry ${registry.name} denied ${what}${said}`,
        detail,
      );
    case 404: {
      const code = NOT_FOUND_CODES.has(upstream.code ?? '') ? upstream.code : undefined;
      const fallback = {
        manifests: 'MANIFEST_UNKNOWN',
        blobs: 'BLOB_UNKNOWN',
        tags: 'NAME_UNKNOWN',
      }[request.kind];
      return new EdgeError(
        (code ?? fallback) as 'MANIFEST_UNKNOWN',
        404,
        `${what} is not known to ${registry.name}${said}`,
        detail,
      );
    }
    case 405:
    case 501:
      // Some registries and proxies do not implement HEAD: an answer about the method, not
      // an outage, so callers can GET instead (see `isHeadRefused`).
      if (request.method === 'HEAD') {
        return new EdgeError(
          'UNSUPPORTED',
          405,
          `registry ${registry.name} does not answer HEAD for ${what}`,
          detail,
        );
      }
      break;
    case 429:
      return fail.tooManyRequests(
        `registry ${registry.name} is rate-limiting the edge${said}`,
        response.headers.get('Retry-After') ?? undefined,
      );
  }

  const status = response.status === 503 || response.status === 504 ? response.status : 502;
  const retry = response.headers.get('Retry-After');
  return new EdgeError(
    'UNAVAILABLE',
    status,
    `registry ${registry.name} answered ${response.status} for ${what}${said}`,
    detail,
    retry === null ? {} : { 'Retry-After': retry },
  );
}

async function readErrorBody(
  response: Response,
): Promise<{ code?: string; message?: string; errors?: unknown }> {
  if (response.body === null) return {};

  const prefix = await readPrefix(response.body, ERROR_BODY_LIMIT);
  const text = new TextDecoder().decode(prefix);
  try {
    const body = JSON.parse(text) as { errors?: { code?: unknown; message?: unknown }[] };
    const first = Array.isArray(body.errors) ? body.errors[0] : undefined;
    return {
      code: typeof first?.code === 'string' ? first.code : undefined,
      message: typeof first?.message === 'string' ? first.message.slice(0, 300) : undefined,
      errors: body.errors,
    };
  } catch {
    return {};
  }
}
