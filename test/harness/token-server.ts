import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { signEs256Jwt } from './jwt';
import { freePort } from './ports';
import { closeServer, listen } from './servers';
import { createSigningKey, type SigningKey } from './signing-key';
import { makeTempDir, removeTempDir } from './temp';
import { grantedActions, parseScope, type AccessEntry } from './token-access';
import { USERS } from './users';

/** Options for `startTokenServer`. */
export interface TokenServerOptions {
  /** Seconds until the registry refuses a token (its `expires_in`); 300 by default. */
  lifetimeSeconds?: number;
  /** The service name the registry announces and checks as `aud`. */
  service?: string;
  /** The `iss` of every token, which the registry checks. */
  issuer?: string;
}

/** One request to /token, logged so that tests can count token fetches. */
export interface TokenRequestRecord {
  /** Every requested scope, space-separated; '' when none was asked for. */
  scope: string;
  service: string | null;
  /** The authenticated username, or null for an anonymous (or refused) caller. */
  user: string | null;
  status: number;
}

/** A running token server: the values a registry's `auth.token` section needs. */
export interface TokenServer {
  /** `http://127.0.0.1:PORT/token` */
  realm: string;
  service: string;
  issuer: string;
  /** PEM of the self-signed certificate whose key signs the tokens. */
  certPath: string;
  lifetimeSeconds: number;
  requests: TokenRequestRecord[];
  /** Every token issued, in order, so tests can look for them where they must not be. */
  issued: string[];
  stop(): Promise<void>;
}

// Values that a client produces when it formats a missing service: a real token server
// refuses them, so ours does too, to catch the bug in the edge.
const BOGUS_SERVICES = ['', 'undefined', 'null', 'None'];

// distribution accepts a token until 60 s after its `exp` (clock-skew leeway, see
// registry/auth/token/token.go), so `exp` is set that much earlier: the registry then refuses
// a token `expires_in` seconds after it was issued, and short lifetimes are testable. Claims
// are whole seconds and `iat` is rounded down, so `exp` adds one more: a token then lives at
// least `expires_in` and at most one second longer, where a 1 s token could otherwise die a
// millisecond after it was issued.
const REGISTRY_LEEWAY_SECONDS = 60;

/**
 * Starts a Docker-style token server on 127.0.0.1 with a fresh P-256 key (see token-access.ts
 * for who gets what). GET /token answers a token; anything else is 404, which also makes
 * clients that try OAuth2 POST first fall back to GET.
 */
export async function startTokenServer(opts: TokenServerOptions = {}): Promise<TokenServer> {
  const dir = await makeTempDir('token');
  const signer = await createSigningKey(dir, 'hocker-edge test token issuer');
  const port = await freePort();
  const state: IssuerState = {
    signer,
    service: opts.service ?? 'hocker-edge-test-registry',
    issuer: opts.issuer ?? 'hocker-edge-test-issuer',
    lifetimeSeconds: opts.lifetimeSeconds ?? 300,
    requests: [],
    issued: [],
  };
  const server = createServer((req, res) => answer(state, req, res));
  await listen(server, port);

  return {
    realm: `http://127.0.0.1:${port}/token`,
    service: state.service,
    issuer: state.issuer,
    certPath: signer.certPath,
    lifetimeSeconds: state.lifetimeSeconds,
    requests: state.requests,
    issued: state.issued,
    stop: async () => {
      await closeServer(server);
      await removeTempDir(dir);
    },
  };
}

interface IssuerState {
  signer: SigningKey;
  service: string;
  issuer: string;
  lifetimeSeconds: number;
  requests: TokenRequestRecord[];
  issued: string[];
}

function answer(state: IssuerState, req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  if (req.method !== 'GET' || url.pathname !== '/token') {
    sendJson(res, 404, { details: 'not found' });
    return;
  }

  const scopes = url.searchParams
    .getAll('scope')
    .flatMap((s) => s.split(' '))
    .filter(Boolean);
  const service = url.searchParams.get('service');
  const caller = authenticate(req.headers.authorization);
  const status = statusFor(service, caller);
  const user = caller === 'refused' ? null : caller;
  state.requests.push({ scope: scopes.join(' '), service, user, status });
  if (status !== 200) {
    sendRefusal(res, status, service);
    return;
  }

  sendJson(res, 200, issue(state, user, service ?? state.service, scopes));
}

function statusFor(service: string | null, caller: string | null | 'refused'): number {
  if (service !== null && BOGUS_SERVICES.includes(service)) return 400;
  if (caller === 'refused') return 401;

  return 200;
}

function sendRefusal(res: ServerResponse, status: number, service: string | null): void {
  if (status === 400) {
    sendJson(res, 400, { details: `invalid service ${JSON.stringify(service)}` });
    return;
  }

  res.setHeader('WWW-Authenticate', 'Basic realm="hocker-edge test token server"');
  sendJson(res, 401, { details: 'incorrect username or password' });
}

// Returns the username for valid Basic credentials, null for none, 'refused' otherwise.
// Any other scheme is refused too: a client that sends a Bearer here has a bug.
function authenticate(header: string | undefined): string | null | 'refused' {
  if (header === undefined) return null;

  const match = /^Basic\s+(\S+)$/i.exec(header);
  if (match?.[1] === undefined) return 'refused';

  const pair = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = pair.indexOf(':');
  const username = pair.slice(0, colon);
  const password = pair.slice(colon + 1);
  const known = USERS.find((u) => u.username === username && u.password === password);

  return colon >= 0 && known !== undefined ? known.username : 'refused';
}

function issue(state: IssuerState, user: string | null, aud: string, scopes: string[]) {
  const now = Math.floor(Date.now() / 1000);
  const access = scopes
    .map(parseScope)
    .filter((entry): entry is AccessEntry => entry !== null)
    .map((entry) => ({ ...entry, actions: grantedActions(user, entry) }));
  const claims = {
    iss: state.issuer,
    sub: user ?? '',
    aud,
    exp: now + 1 + state.lifetimeSeconds - REGISTRY_LEEWAY_SECONDS,
    nbf: now,
    iat: now,
    jti: randomUUID(),
    access,
  };
  const header = { typ: 'JWT', x5c: [state.signer.certBase64Der] };
  const token = signEs256Jwt(header, claims, state.signer.key);
  state.issued.push(token);

  return {
    token,
    access_token: token,
    expires_in: state.lifetimeSeconds,
    issued_at: new Date(now * 1000).toISOString(),
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const bytes = Buffer.from(JSON.stringify(body), 'utf8');
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': bytes.length });
  res.end(bytes);
}
