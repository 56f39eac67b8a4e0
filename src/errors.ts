/**
 * Typed errors. Every failure the edge reports is an `EdgeError` carrying a code from the OCI
 * distribution spec (plus `UNAVAILABLE` for upstream trouble) and the HTTP status it maps to,
 * so one error mapper in `index.ts` can render every failure the same way.
 */

/** Error codes of the OCI distribution spec, and `UNAVAILABLE` for an upstream that failed. */
export type ErrorCode =
  | 'BLOB_UNKNOWN'
  | 'DIGEST_INVALID'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_UNKNOWN'
  | 'NAME_INVALID'
  | 'NAME_UNKNOWN'
  | 'SIZE_INVALID'
  | 'RANGE_INVALID'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'TOOMANYREQUESTS'
  | 'UNSUPPORTED'
  | 'UNAVAILABLE';

/** Statuses an `EdgeError` may carry; all of them are error statuses. */
export type ErrorStatus =
  400 | 401 | 403 | 404 | 405 | 415 | 416 | 422 | 429 | 500 | 502 | 503 | 504;

/** A failure with its OCI code, HTTP status, human message and optional structured detail. */
export class EdgeError extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly status: ErrorStatus,
    message: string,
    readonly detail?: unknown,
    /** Extra response headers, such as `Retry-After` or `Content-Range`. */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'EdgeError';
  }

  /** The OCI error body: `{"errors":[{"code","message","detail"}]}`. */
  toBody(): { errors: { code: ErrorCode; message: string; detail?: unknown }[] } {
    const entry = { code: this.code, message: this.message };
    return { errors: [this.detail === undefined ? entry : { ...entry, detail: this.detail }] };
  }
}

/** Shorthands for the errors raised across the code base, so codes and statuses stay paired. */
export const fail = {
  nameInvalid: (message: string, detail?: unknown) =>
    new EdgeError('NAME_INVALID', 400, message, detail),
  digestInvalid: (message: string, detail?: unknown) =>
    new EdgeError('DIGEST_INVALID', 400, message, detail),
  manifestUnknown: (message: string, detail?: unknown) =>
    new EdgeError('MANIFEST_UNKNOWN', 404, message, detail),
  manifestInvalid: (message: string, detail?: unknown) =>
    new EdgeError('MANIFEST_INVALID', 502, message, detail),
  blobUnknown: (message: string, detail?: unknown) =>
    new EdgeError('BLOB_UNKNOWN', 404, message, detail),
  nameUnknown: (message: string, detail?: unknown) =>
    new EdgeError('NAME_UNKNOWN', 404, message, detail),
  denied: (message: string, detail?: unknown) => new EdgeError('DENIED', 403, message, detail),
  unauthorized: (message: string, detail?: unknown) =>
    new EdgeError('UNAUTHORIZED', 401, message, detail),
  unsupported: (message: string, detail?: unknown, status: ErrorStatus = 400) =>
    new EdgeError('UNSUPPORTED', status, message, detail),
  tooManyRequests: (message: string, retryAfter?: string) =>
    new EdgeError(
      'TOOMANYREQUESTS',
      429,
      message,
      undefined,
      retryAfter === undefined ? {} : { 'Retry-After': retryAfter },
    ),
  unavailable: (message: string, status: 502 | 503 | 504 = 502, detail?: unknown) =>
    new EdgeError('UNAVAILABLE', status, message, detail),
};
