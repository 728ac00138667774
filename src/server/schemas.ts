/** JSON schemas shared by route validation (400s) and the OpenAPI document. */

export const errorSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string' },
        message: { type: 'string' },
        // session_died only: what the execution printed before its process died.
        stdout: { type: 'string' },
        stderr: { type: 'string' },
      },
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
    outputs: { type: 'array', items: { type: 'object', additionalProperties: true } },
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

const nullableInteger = { type: ['integer', 'null'] } as const;

export const poolSessionSchema = {
  type: 'object',
  required: ['id', 'phase', 'state', 'pid', 'holder', 'leasedSince', 'idleSince', 'createdAt', 'ageMs', 'executions', 'lastError', 'owner'],
  additionalProperties: true,
  properties: {
    id: { type: 'string', description: "The pool's session id (s1, s2, ...), not a named session's id" },
    phase: { type: 'string', enum: ['starting', 'idle', 'leased', 'stopping'] },
    state: { type: 'string', description: "The session machine's state, e.g. ready.idle or busy.running" },
    pid: nullableInteger,
    holder: { type: ['string', 'null'], description: 'The acquire (waiter id) holding it, while leased' },
    leasedSince: { type: ['number', 'null'], description: 'Epoch ms' },
    idleSince: { type: ['number', 'null'], description: 'Epoch ms' },
    createdAt: { type: 'number', description: 'Epoch ms' },
    ageMs: { type: 'number' },
    executions: { type: 'integer' },
    lastError: { type: ['string', 'null'] },
    owner: {
      type: ['object', 'null'],
      description: 'The tenant holding it through the server; null when idle, starting or stopping',
      required: ['tenant', 'namedSessionId'],
      properties: { tenant: { type: 'string' }, namedSessionId: { type: ['string', 'null'], description: 'null for a one-shot run' } },
    },
  },
} as const;

export const poolMetricsSchema = {
  type: 'object',
  additionalProperties: { type: 'number' },
  properties: Object.fromEntries(
    [
      'total',
      'idle',
      'busy',
      'starting',
      'stopping',
      'waiting',
      'acquisitions',
      'poolHits',
      'poolMisses',
      'timeouts',
      'created',
      'creationFailures',
      'died',
      'leaseWarnings',
    ].map((name) => [name, { type: 'integer' }]),
  ),
} as const;

export const poolSnapshotSchema = {
  type: 'object',
  required: ['view', 'state', 'capacity', 'metrics', 'sessions'],
  properties: {
    view: {
      type: 'string',
      enum: ['admin', 'tenant'],
      description: "admin: the whole pool; tenant: only the caller's sessions, no waiters, template or pool id",
    },
    id: { type: 'string', description: "admin only: the pool id, also on every worker's command line" },
    state: { type: 'string', enum: ['new', 'open', 'closing', 'closed'] },
    capacity: {
      type: 'object',
      required: ['minIdle', 'maxSessions', 'used'],
      properties: { minIdle: { type: 'integer' }, maxSessions: { type: 'integer' }, used: { type: 'integer' } },
    },
    metrics: poolMetricsSchema,
    template: {
      type: ['object', 'null'],
      description: "admin only: the fork template in spawn mode 'fork', else null",
      properties: { status: { type: 'string' }, pid: nullableInteger },
    },
    sessions: { type: 'array', items: poolSessionSchema },
    waiters: {
      type: 'array',
      description: 'admin only: waiting acquires, oldest first',
      items: {
        type: 'object',
        required: ['id', 'since', 'deadline'],
        properties: { id: { type: 'string' }, since: { type: 'number' }, deadline: { type: ['number', 'null'] } },
      },
    },
  },
} as const;

export const executionParamsSchema = {
  type: 'object',
  required: ['id', 'execId'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 100 }, execId: { type: 'string', minLength: 1, maxLength: 200 } },
} as const;

const gapSchema = {
  type: ['object', 'null'],
  required: ['from', 'to'],
  properties: { from: { type: 'integer' }, to: { type: 'integer' } },
} as const;

export const executionSchema = {
  type: 'object',
  required: ['id', 'status', 'result', 'error', 'output', 'gap'],
  properties: {
    id: { type: 'string' },
    status: { type: 'string', enum: ['running', 'done', 'failed'] },
    result: { anyOf: [resultSchema, { type: 'null' }] },
    error: { anyOf: [errorSchema.properties.error, { type: 'null' }] },
    output: {
      type: 'array',
      items: {
        type: 'object',
        required: ['type', 'id', 'seq', 'stream', 'text'],
        properties: {
          type: { type: 'string', enum: ['output'] },
          id: { type: 'string' },
          seq: { type: 'integer' },
          stream: { type: 'string', enum: ['stdout', 'stderr'] },
          text: { type: 'string' },
        },
      },
    },
    gap: { ...gapSchema, description: 'Events since the execution began that the log no longer holds' },
  },
} as const;
