// EdgeError: the OCI error body it renders, and the code and status of every fail.* shorthand.
import { describe, expect, it } from 'vitest';
import { EdgeError, fail } from '../src/errors';

const show = (value: unknown) => JSON.stringify(value);

describe('EdgeError', () => {
  it.each([
    {
      name: 'without detail, no detail key at all',
      input: new EdgeError('BLOB_UNKNOWN', 404, 'blob unknown to this edge'),
      want: { errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown to this edge' }] },
    },
    {
      name: 'with an object detail',
      input: new EdgeError('DENIED', 403, "registry 'quay.io' is not allowed", {
        allowed: ['docker.io'],
      }),
      want: {
        errors: [
          {
            code: 'DENIED',
            message: "registry 'quay.io' is not allowed",
            detail: { allowed: ['docker.io'] },
          },
        ],
      },
    },
    {
      name: 'with a string detail',
      input: new EdgeError('NAME_INVALID', 400, 'bad name', 'Alpine'),
      want: { errors: [{ code: 'NAME_INVALID', message: 'bad name', detail: 'Alpine' }] },
    },
    {
      name: 'with a falsy detail, which is kept',
      input: new EdgeError('SIZE_INVALID', 400, 'size', 0),
      want: { errors: [{ code: 'SIZE_INVALID', message: 'size', detail: 0 }] },
    },
  ])('toBody $name', ({ input, want }) => {
    const got = input.toBody();

    expect(got, `toBody() = ${show(got)}, want ${show(want)}`).toStrictEqual(want);
    expect(JSON.parse(JSON.stringify(got)), 'toBody() survives JSON').toStrictEqual(want);
  });

  it('is an Error named EdgeError with its message, code, status and no headers', () => {
    const error = new EdgeError('UNSUPPORTED', 415, 'schema 1');

    expect(error).toBeInstanceOf(Error);
    expect(error).toBeInstanceOf(EdgeError);
    const got = {
      name: error.name,
      message: error.message,
      code: error.code,
      status: error.status,
      detail: error.detail,
      headers: error.headers,
    };
    const want = {
      name: 'EdgeError',
      message: 'schema 1',
      code: 'UNSUPPORTED',
      status: 415,
      detail: undefined,
      headers: {},
    };
    expect(got, `new EdgeError(...) = ${show(got)}`).toEqual(want);
  });

  it('keeps extra response headers', () => {
    const headers = { 'Content-Range': 'bytes */32' };
    const error = new EdgeError('RANGE_INVALID', 416, 'range', undefined, headers);

    expect(error.headers, `headers = ${show(error.headers)}`).toEqual(headers);
    expect(error.toBody(), 'headers stay out of the body').toEqual({
      errors: [{ code: 'RANGE_INVALID', message: 'range' }],
    });
  });
});

describe('fail shorthands', () => {
  const detail = { why: 'because' };

  it.each([
    {
      name: 'nameInvalid',
      make: () => fail.nameInvalid('m', detail),
      code: 'NAME_INVALID',
      status: 400,
    },
    {
      name: 'digestInvalid',
      make: () => fail.digestInvalid('m', detail),
      code: 'DIGEST_INVALID',
      status: 400,
    },
    {
      name: 'manifestUnknown',
      make: () => fail.manifestUnknown('m', detail),
      code: 'MANIFEST_UNKNOWN',
      status: 404,
    },
    {
      name: 'manifestInvalid',
      make: () => fail.manifestInvalid('m', detail),
      code: 'MANIFEST_INVALID',
      status: 502,
    },
    {
      name: 'blobUnknown',
      make: () => fail.blobUnknown('m', detail),
      code: 'BLOB_UNKNOWN',
      status: 404,
    },
    {
      name: 'nameUnknown',
      make: () => fail.nameUnknown('m', detail),
      code: 'NAME_UNKNOWN',
      status: 404,
    },
    { name: 'denied', make: () => fail.denied('m', detail), code: 'DENIED', status: 403 },
    {
      name: 'unauthorized',
      make: () => fail.unauthorized('m', detail),
      code: 'UNAUTHORIZED',
      status: 401,
    },
    {
      name: 'unsupported (default status)',
      make: () => fail.unsupported('m', detail),
      code: 'UNSUPPORTED',
      status: 400,
    },
    {
      name: 'unsupported with 415',
      make: () => fail.unsupported('m', detail, 415),
      code: 'UNSUPPORTED',
      status: 415,
    },
    {
      name: 'unavailable (default status)',
      make: () => fail.unavailable('m', undefined, detail),
      code: 'UNAVAILABLE',
      status: 502,
    },
    {
      name: 'unavailable with 503',
      make: () => fail.unavailable('m', 503, detail),
      code: 'UNAVAILABLE',
      status: 503,
    },
    {
      name: 'unavailable with 504',
      make: () => fail.unavailable('m', 504, detail),
      code: 'UNAVAILABLE',
      status: 504,
    },
  ])('$name is $code $status', ({ name, make, code, status }) => {
    const error = make();
    const got = { code: error.code, status: error.status, message: error.message };
    const want = { code, status, message: 'm' };

    expect(error, `fail.${name}`).toBeInstanceOf(EdgeError);
    expect(got, `fail.${name}('m') = ${show(got)}, want ${show(want)}`).toEqual(want);
    expect(error.detail, `fail.${name}('m').detail`).toBe(detail);
    expect(error.toBody(), `fail.${name}('m').toBody()`).toEqual({
      errors: [{ code, message: 'm', detail }],
    });
  });

  it.each([
    { name: 'with Retry-After', retryAfter: '30', want: { 'Retry-After': '30' } },
    { name: 'without Retry-After', retryAfter: undefined, want: {} },
  ])('tooManyRequests $name is TOOMANYREQUESTS 429', ({ retryAfter, want }) => {
    const error = fail.tooManyRequests('slow down', retryAfter);
    const got = {
      code: error.code,
      status: error.status,
      headers: error.headers,
      body: error.toBody(),
    };

    expect(got, `fail.tooManyRequests('slow down', ${retryAfter}) = ${show(got)}`).toEqual({
      code: 'TOOMANYREQUESTS',
      status: 429,
      headers: want,
      body: { errors: [{ code: 'TOOMANYREQUESTS', message: 'slow down' }] },
    });
  });
});
