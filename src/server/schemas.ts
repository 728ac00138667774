/** JSON schemas shared by route validation (400s) and the OpenAPI document. */

export const errorSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' } },
    },
  },
} as const;

export const executeBodySchema = {
  type: 'object',
  required: ['code'],
  additionalProperties: false,
  properties: {
    code: { type: 'string' },
    timeoutMs: { type: 'integer', minimum: 1, maximum: 86_400_000 },
  },
} as const;

export const sessionParamsSchema = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 100 } },
} as const;

export const pythonErrorSchema = {
  type: ['object', 'null'],
  properties: { name: { type: 'string' }, message: { type: 'string' }, traceback: { type: 'string' } },
} as const;

export const resultSchema = {
  type: 'object',
  required: ['status', 'value', 'data', 'error', 'stdout', 'stderr', 'executionCount', 'durationMs', 'truncated'],
  properties: {
    status: { type: 'string', enum: ['ok', 'error', 'interrupted', 'timeout'] },
    value: { type: ['string', 'null'] },
    data: { type: ['object', 'null'], additionalProperties: true },
    error: pythonErrorSchema,
    stdout: { type: 'string' },
    stderr: { type: 'string' },
    executionCount: { type: 'integer' },
    durationMs: { type: 'number' },
    truncated: { type: 'boolean' },
  },
} as const;

export const createdSessionSchema = {
  type: 'object',
  required: ['id', 'createdAt'],
  properties: { id: { type: 'string' }, createdAt: { type: 'string' } },
} as const;

export const sessionSchema = {
  type: 'object',
  required: ['id', 'createdAt', 'lastUsedAt', 'executing'],
  properties: {
    id: { type: 'string' },
    createdAt: { type: 'string' },
    lastUsedAt: { type: 'string' },
    executing: { type: 'boolean' },
  },
} as const;

export const sessionListSchema = {
  type: 'object',
  required: ['sessions'],
  properties: { sessions: { type: 'array', items: sessionSchema } },
} as const;
