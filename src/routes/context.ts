/**
 * What every route handler gets: the request's `Context` (config, store, log, credentials),
 * set up once by the middleware in index.ts.
 */
import type { Env } from '../config';
import type { Context } from '../resolve';

/** Hono's environment type for this app. */
export interface AppEnv {
  Bindings: Env;
  Variables: { ctx: Context };
}
