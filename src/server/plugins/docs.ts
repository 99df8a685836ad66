/**
 * The OpenAPI document (/docs/json) and its page (/docs), generated from the same route schemas
 * that validate requests, so the two cannot drift. The page is Swagger UI's own HTML and scripts,
 * served as they are: the API's encoding (encoding.ts) applies only to the API's routes.
 */
import type { FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';

/** Where the page and the document are served. */
export const DOCS_PREFIX = '/docs';

export function docs(app: FastifyInstance): void {
  void app.register(swagger, {
    openapi: {
      info: { title: 'ralm', description: 'RALM real-time attention-based look-alike scoring service', version: '1' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  void app.register(swaggerUi, { routePrefix: DOCS_PREFIX });
}
