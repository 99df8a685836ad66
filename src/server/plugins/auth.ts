/**
 * The one check of the API's bearer tokens (../tokens.ts), for every route. Each route states the
 * scopes it needs in ROUTE_SCOPES; a route missing from the table stops the app at start, so no
 * route is left open by accident. @fastify/bearer-auth compares the token (in constant time, the
 * scheme in any case); the check runs as the request arrives, before its body is read, so a
 * caller without a good token costs no parsing and learns nothing from the body's checks.
 * Without tokens the API is open (local development; server.ts refuses that beyond loopback).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import bearerAuth from '@fastify/bearer-auth';
import { ServiceError } from '../errors.js';
import { grants, type ApiToken, type Scope } from '../tokens.js';
import { DOCS_PREFIX } from './docs.js';

/**
 * The scopes a token needs for each route, all of them. Open ([]): the probes, the metrics and
 * (under DOCS_PREFIX) the documentation — none reveals users, items or audiences. Recommend and
 * score read the stored users and items; creating an audience writes a job and answers its users.
 */
export const ROUTE_SCOPES: Readonly<Record<string, readonly Scope[]>> = {
  'GET /healthz': [],
  'GET /readyz': [],
  'GET /metrics': [],
  'POST /v1/recommend': ['read'],
  'POST /v1/score': ['read'],
  'GET /v1/users/:id': ['read'],
  'GET /v1/items/:id': ['read'],
  'GET /v1/audiences/:id': ['read'],
  'GET /v1/audiences/:id/users': ['read'],
  'POST /v1/events': ['write'],
  'PUT /v1/users/:id': ['write'],
  'PUT /v1/items/:id': ['write'],
  'POST /v1/audiences': ['read', 'write'],
  'DELETE /v1/audiences/:id': ['write'],
  'POST /v1/admin/recluster': ['admin'],
  'POST /v1/admin/model': ['admin'],
};

/** The scopes a route needs; undefined for a route the table does not know. */
export function routeScopes(method: string, url: string): readonly Scope[] | undefined {
  if (url === DOCS_PREFIX || url.startsWith(`${DOCS_PREFIX}/`)) return [];
  return ROUTE_SCOPES[`${method === 'HEAD' ? 'GET' : method} ${url}`];
}

const tokens = new WeakMap<FastifyRequest, ApiToken>();

/** The token a request was let in with (undefined on an open route or an open API). */
export function tokenOf(req: FastifyRequest): ApiToken | undefined {
  return tokens.get(req);
}

const REALM = 'Bearer realm="ralm"';
// What @fastify/bearer-auth strips from the header before comparing: "Bearer ", in any case.
const SCHEME_LENGTH = 'Bearer '.length;

export function auth(app: FastifyInstance, configured: readonly ApiToken[]): void {
  const byToken = new Map(configured.map((t) => [t.token, t]));
  if (configured.length > 0) {
    // addHook false: it only decorates the app with its verifier, which the hook below calls. A
    // refused token is logged once, by the error handler; the plugin's own line goes to debug.
    void app.register(bearerAuth, { keys: configured.map((t) => t.token), addHook: false, specCompliance: 'rfc6749', verifyErrorLogLevel: 'debug' });
  }

  const verify = (req: FastifyRequest, reply: FastifyReply): Promise<void> => new Promise((resolve, reject) => {
    const verifier = app.verifyBearerAuth;
    if (!verifier) return reject(new Error('@fastify/bearer-auth is not registered'));
    verifier(req, reply, (err) => (err ? reject(refused(err)) : resolve()));
  });

  const check = (need: readonly Scope[]) => async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    await verify(req, reply);
    const t = byToken.get((req.headers.authorization ?? '').substring(SCHEME_LENGTH).trim());
    if (!t) throw refused(new Error('unknown token'));
    const missing = need.filter((s) => !grants(t, s));
    if (missing.length > 0) {
      throw new ServiceError('RALM_ERR_FORBIDDEN', `authorization: this route needs a token with the ${missing.join(' and ')} scope${missing.length > 1 ? 's' : ''}`,
        { scopes: need }, { 'www-authenticate': `${REALM}, error="insufficient_scope", scope="${need.join(' ')}"` });
    }
    tokens.set(req, t);
  };

  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const needs = methods.map((m) => routeScopes(m, route.url));
    if (needs.some((n) => n === undefined)) throw new Error(`route ${methods.join(',')} ${route.url} states no scopes in ROUTE_SCOPES (src/server/plugins/auth.ts)`);
    const need = needs[0] as readonly Scope[];
    if (need.length === 0 || configured.length === 0) return;
    route.schema = { ...route.schema, security: [{ bearer: [] }], description: [route.schema?.description, `Needs a bearer token with the ${need.join(' and ')} scope (admin grants every scope).`].filter(Boolean).join(' ') };
    const own = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [check(need), ...own];
  });
}

/** @fastify/bearer-auth's refusal as the service's coded 401, with the challenge RFC 6750 asks for. */
function refused(err: Error & { code?: string }): ServiceError {
  if (err.code === 'FST_BEARER_AUTH_MISSING_AUTHORIZATION_HEADER') {
    return new ServiceError('RALM_ERR_UNAUTHORIZED', 'authorization: expected "Bearer <api token>"', undefined, { 'www-authenticate': REALM });
  }
  return new ServiceError('RALM_ERR_UNAUTHORIZED', 'authorization: the bearer token is not valid', undefined, { 'www-authenticate': `${REALM}, error="invalid_token"` });
}
