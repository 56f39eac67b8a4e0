// WWW-Authenticate parsing and choice (RFC 7235; C27, C31, C45) and Basic headers (C63).
import { describe, expect, it } from 'vitest';
import { basicHeader } from '../src/registry/auth';
import { type Challenge, parseChallenges, preferredChallenge } from '../src/registry/challenge';

const REALM = 'http://127.0.0.1:1/token';

const bearer = (params: Record<string, string>): Challenge => ({ scheme: 'bearer', params });
const basic = (params: Record<string, string>): Challenge => ({ scheme: 'basic', params });

describe('parseChallenges', () => {
  it.each([
    {
      name: 'C27c: Basic then Bearer in one header',
      input: `Basic realm="r", Bearer realm="${REALM}",service="s",scope="repository:a/b:pull"`,
      want: [
        basic({ realm: 'r' }),
        bearer({ realm: REALM, service: 's', scope: 'repository:a/b:pull' }),
      ],
    },
    {
      name: 'Bearer then Basic, the order kept',
      input: `Bearer realm="${REALM}", Basic realm="r"`,
      want: [bearer({ realm: REALM }), basic({ realm: 'r' })],
    },
    {
      name: 'C27a: ECR Basic with a service',
      input: 'Basic realm="https://1.dkr.ecr.r.amazonaws.com/",service="ecr.amazonaws.com"',
      want: [basic({ realm: 'https://1.dkr.ecr.r.amazonaws.com/', service: 'ecr.amazonaws.com' })],
    },
    {
      name: 'a quoted scope holding commas is one value',
      input: `Bearer realm="${REALM}",scope="repository:a/b:pull,push,repository:c:pull"`,
      want: [bearer({ realm: REALM, scope: 'repository:a/b:pull,push,repository:c:pull' })],
    },
    {
      name: 'escaped quotes and backslashes inside a quoted string',
      input: String.raw`Bearer realm="${REALM}",title="say \"hi\", then \\ go"`,
      want: [bearer({ realm: REALM, title: 'say "hi", then \\ go' })],
    },
    {
      name: 'RFC 7235 section 4.1 example: a quoted comma before the next scheme',
      input:
        String.raw`Newauth realm="apps", type=1, title="Login to \"apps\"", ` +
        'Basic realm="simple"',
      want: [
        { scheme: 'newauth', params: { realm: 'apps', type: '1', title: 'Login to "apps"' } },
        basic({ realm: 'simple' }),
      ],
    },
    {
      name: 'C45: an unquoted service',
      input: `Bearer realm="${REALM}",service=127.0.0.1,scope="repository:team/app:pull"`,
      want: [bearer({ realm: REALM, service: '127.0.0.1', scope: 'repository:team/app:pull' })],
    },
    {
      name: 'C45: lower-case scheme, mixed-case names, space after the comma',
      input: `bearer Realm="${REALM}" , Service="reg"`,
      want: [bearer({ realm: REALM, service: 'reg' })],
    },
    {
      name: 'upper-case scheme and names; values keep their case',
      input: `BEARER REALM="${REALM}",SERVICE="Registry.Example"`,
      want: [bearer({ realm: REALM, service: 'Registry.Example' })],
    },
    {
      name: 'whitespace around "="',
      input: `Bearer realm = "${REALM}" ,  service =reg`,
      want: [bearer({ realm: REALM, service: 'reg' })],
    },
    {
      name: 'C45: realm only',
      input: 'Bearer realm="http://127.0.0.1:1/v2/token"',
      want: [bearer({ realm: 'http://127.0.0.1:1/v2/token' })],
    },
    {
      name: 'C31: error="invalid_token" on an expired token',
      input: `Bearer realm="${REALM}",service="s",scope="repository:a:pull",error="invalid_token"`,
      want: [
        bearer({ realm: REALM, service: 's', scope: 'repository:a:pull', error: 'invalid_token' }),
      ],
    },
    {
      name: 'an empty quoted value',
      input: `Bearer realm="${REALM}",service=""`,
      want: [bearer({ realm: REALM, service: '' })],
    },
    { name: 'a scheme with no parameters', input: 'Bearer', want: [bearer({})] },
    {
      name: 'C45: no realm; the caller reports it, the parser keeps the rest',
      input: 'Bearer service="s",scope="repository:a:pull"',
      want: [bearer({ service: 's', scope: 'repository:a:pull' })],
    },
    {
      name: 'leading and doubled commas',
      input: ` , Basic realm="r",, , Bearer realm="${REALM}"`,
      want: [basic({ realm: 'r' }), bearer({ realm: REALM })],
    },
    { name: 'the empty header', input: '', want: [] },
    { name: 'only whitespace and commas', input: ' , ,\t', want: [] },
    { name: 'garbage that starts with a quote', input: '"realm"="x"', want: [] },
    { name: 'garbage that starts with "="', input: '=Bearer realm="x"', want: [] },
    { name: 'garbage that starts with a semicolon', input: '; Bearer realm="x"', want: [] },
  ])('$name', ({ input, want }) => {
    const got = parseChallenges(input);

    expect(
      got,
      `parseChallenges(${input}) = ${JSON.stringify(got)}, want ${JSON.stringify(want)}`,
    ).toEqual(want);
  });

  it('keeps what it parsed before an unparsable tail', () => {
    const input = `Bearer realm="${REALM}", ;;; garbage`;
    const got = parseChallenges(input);

    expect(got, `parseChallenges(${input}) = ${JSON.stringify(got)}`).toEqual([
      bearer({ realm: REALM }),
    ]);
  });

  it('ends on an unterminated quoted string', () => {
    const input = `Bearer realm="${REALM}",service="unterminated`;
    const got = parseChallenges(input);

    expect(got, `parseChallenges(${input}) = ${JSON.stringify(got)}`).toEqual([
      bearer({ realm: REALM, service: 'unterminated' }),
    ]);
  });
});

describe('preferredChallenge', () => {
  const basicR = basic({ realm: 'r' });
  const bearerR = bearer({ realm: REALM });
  const other = { scheme: 'negotiate', params: {} };

  it.each([
    { name: 'Bearer over Basic (Basic first)', input: [basicR, bearerR], want: bearerR },
    { name: 'Bearer over Basic (Bearer first)', input: [bearerR, basicR], want: bearerR },
    { name: 'Basic alone', input: [basicR], want: basicR },
    { name: 'Basic over an unknown scheme', input: [other, basicR], want: basicR },
    { name: 'only an unknown scheme', input: [other], want: undefined },
    { name: 'no challenges', input: [], want: undefined },
  ])('$name', ({ input, want }) => {
    const got = preferredChallenge(input);

    expect(got, `preferredChallenge(${JSON.stringify(input)}) = ${JSON.stringify(got)}`).toBe(want);
  });

  it('picks Bearer from a parsed C27c header', () => {
    const header = `Basic realm="r", Bearer realm="${REALM}",service="s"`;
    const got = preferredChallenge(parseChallenges(header));

    expect(got, `preferredChallenge(parseChallenges(${header}))`).toEqual(
      bearer({ realm: REALM, service: 's' }),
    );
  });
});

describe('basicHeader', () => {
  it.each([
    {
      name: 'C63: a Harbor robot account with $, : and % in the password',
      input: { username: 'robot$ci-pull', password: 'p:a$$w0rd%41' },
      want: 'Basic cm9ib3QkY2ktcHVsbDpwOmEkJHcwcmQlNDE=',
    },
    {
      name: 'C27a: ECR user AWS',
      input: { username: 'AWS', password: 'secret' },
      want: 'Basic QVdTOnNlY3JldA==',
    },
    {
      name: 'a UTF-8 password is encoded as UTF-8, not Latin-1',
      input: { username: 'user', password: 'pässwörd€' },
      want: 'Basic dXNlcjpww6Rzc3fDtnJk4oKs',
    },
    {
      name: 'a password outside the BMP',
      input: { username: 'u', password: '🔑' },
      want: 'Basic dTrwn5SR',
    },
    { name: 'an empty password', input: { username: 'u', password: '' }, want: 'Basic dTo=' },
  ])('$name', ({ input, want }) => {
    const got = basicHeader(input);

    expect(got, `basicHeader(${JSON.stringify(input)}) = ${got}, want ${want}`).toBe(want);
  });

  it('agrees with base64 of the UTF-8 bytes of user:password', () => {
    const input = { username: 'ünï', password: 'a:b:c ß 😀 $HOME' };
    const want = `Basic ${Buffer.from('ünï:a:b:c ß 😀 $HOME', 'utf8').toString('base64')}`;
    const got = basicHeader(input);

    expect(got, `basicHeader(${JSON.stringify(input)}) = ${got}, want ${want}`).toBe(want);
  });
});
