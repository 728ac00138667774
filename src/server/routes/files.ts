import type { FastifyInstance } from 'fastify';
import { tenantOf } from '../context.js';
import type { SessionRegistry } from '../registry.js';
import { errorSchema, sessionParamsSchema } from '../schemas.js';

interface FileParams {
  id: string;
  '*': string;
}

const fileParamsSchema = {
  type: 'object',
  required: ['id', '*'],
  properties: { ...sessionParamsSchema.properties, '*': { type: 'string', minLength: 1 } },
} as const;

/**
 * PUT and GET /v1/sessions/:id/files/*path: files into and out of a named session's folder, as raw
 * bytes whatever their content type (a JSON file is a file, not a request body). Uploads are capped
 * by bodyLimit (413 payload_too_large), downloads by `maxFileBytes` (413 file_too_large).
 */
export async function fileRoutes(app: FastifyInstance, registry: SessionRegistry, maxFileBytes: number): Promise<void> {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  const errors = { '4xx': errorSchema, '5xx': errorSchema };

  app.put<{ Params: FileParams; Body: Buffer | undefined }>(
    '/sessions/:id/files/*',
    { schema: { params: fileParamsSchema, response: errors } },
    async (request, reply) => {
      request.sessionId = request.params.id;
      const entry = registry.get(tenantOf(request), request.params.id);
      await registry.writeFile(entry, request.params['*'], request.body ?? Buffer.alloc(0));
      return reply.code(204).send();
    },
  );

  app.get<{ Params: FileParams }>(
    '/sessions/:id/files/*',
    { schema: { params: fileParamsSchema, response: errors } },
    async (request, reply) => {
      request.sessionId = request.params.id;
      const entry = registry.get(tenantOf(request), request.params.id);
      const data = await registry.readFile(entry, request.params['*'], maxFileBytes);
      return reply.type('application/octet-stream').send(data);
    },
  );
}
