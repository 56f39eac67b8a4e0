/**
 * hocker-edge: the Hono app. Routes are wired here to their handlers; one middleware builds
 * each request's context and writes its log line, and one error mapper renders every failure
 * as an OCI error body.
 */
import { Hono } from 'hono';
import { Store } from './blobs/store';
import { SubrequestBudget } from './budget';
import { callerCredentials, EDGE_CHALLENGE } from './caller';
import { type Config, type Env, parseConfig } from './config';
import { EdgeError } from './errors';
import { logEvent, RequestLog } from './log';
import { VerificationError } from './blobs/verify';
import type { AppEnv } from './routes/context';
import { hashRoutes } from './routes/hash';
import { homeRoutes } from './routes/home';
import { imageRoutes } from './routes/image';
import { nixRoutes } from './routes/nix';
import { sha256Routes } from './routes/sha256';
import { v2 } from './routes/v2';

// Config is parsed once per isolate and env; a broken config is reported on every request.
const configs = new WeakMap<Env, Config | EdgeError>();

function configFor(env: Env): Config {
  let config = configs.get(env);
  if (config === undefined) {
    try {
      config = parseConfig(env);
    } catch (error) {
      config =
        error instanceof EdgeError ? error : new EdgeError('UNAVAILABLE', 500, String(error));
      logEvent('error', 'config-invalid', { message: config.message });
    }
    configs.set(env, config);
  }
  if (config instanceof EdgeError) throw config;
  return config;
}

const app = new Hono<AppEnv>();

app.use(async (c, next) => {
  const log = new RequestLog();
  try {
    const config = configFor(c.env);
    const budget = new SubrequestBudget(config.subrequestLimit);
    c.set('ctx', {
      config,
      store: new Store(c.env.RECORDS, c.env.BLOBS, budget),
      log,
      budget,
      credentials: callerCredentials(c.req.header('Authorization')),
      waitUntil: (promise) => c.executionCtx.waitUntil(promise),
    });
    log.set({ authenticated: c.get('ctx').credentials !== undefined });
    await next();
  } finally {
    const budget = (c.get('ctx') as AppEnv['Variables']['ctx'] | undefined)?.budget;
    if (budget !== undefined) log.set({ subrequests: budget.used });
    log.finish(c.req.method, new URL(c.req.url).pathname, c.res.status);
  }
});

// A HEAD answer carries the Content-Length its GET's body would have (clients size things by
// it); Hono runs HEAD as GET and drops the body after every middleware, this one included.
// Large bodies (blobs, archives) set their length themselves; the rest are small.
app.use(async (c, next) => {
  await next();
  if (c.req.method !== 'HEAD' || c.res.body === null || c.res.headers.has('Content-Length')) {
    return;
  }
  const length = (await c.res.arrayBuffer()).byteLength;
  const headers = new Headers(c.res.headers);
  headers.set('Content-Length', String(length));
  c.res = new Response(null, { status: c.res.status, headers });
});

app.route('/', homeRoutes);
app.route('/', v2);
app.route('/', nixRoutes);
app.route('/', hashRoutes);
app.route('/', sha256Routes);
app.route('/', imageRoutes);

app.notFound(() =>
  errorResponse(
    new EdgeError('NAME_UNKNOWN', 404, 'no such route; GET / lists what this edge answers'),
  ),
);

app.onError((error, c) => {
  const edgeError = asEdgeError(error);
  const ctx = c.get('ctx') as AppEnv['Variables']['ctx'] | undefined;
  ctx?.log.set({
    outcome: edgeError.status >= 500 ? 'upstream-error' : 'client-error',
    error: edgeError.code,
  });
  if (edgeError.status === 500) {
    logEvent('error', 'internal-error', { message: String(error), stack: stackOf(error) });
  }
  return errorResponse(edgeError);
});

function asEdgeError(error: unknown): EdgeError {
  if (error instanceof EdgeError) return error;
  if (error instanceof VerificationError) {
    return new EdgeError('DIGEST_INVALID', 502, error.message);
  }
  return new EdgeError('UNAVAILABLE', 500, 'internal error; the edge logged the details');
}

function errorResponse(error: EdgeError): Response {
  const headers = new Headers(error.headers);
  // Every 401 challenges the caller, so clients such as skopeo offer what they hold.
  if (error.status === 401 && !headers.has('WWW-Authenticate')) {
    headers.set('WWW-Authenticate', EDGE_CHALLENGE);
  }
  return Response.json(error.toBody(), { status: error.status, headers });
}

function stackOf(error: unknown): string | undefined {
  return error instanceof Error ? error.stack : undefined;
}

export default app satisfies ExportedHandler<Env>;
