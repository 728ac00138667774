import {
  createdSessionSchema,
  errorSchema,
  executeBodySchema,
  executionSchema,
  poolSnapshotSchema,
  resultSchema,
  sessionListSchema,
  sessionSchema,
} from './schemas.js';

const json = (schema: unknown): unknown => ({ content: { 'application/json': { schema } } });
const err = (description: string): unknown => ({ description, ...(json({ $ref: '#/components/schemas/Error' }) as object) });

const common = {
  '400': err('Invalid input, or a malformed request or URL'),
  '401': err('Missing or invalid bearer token'),
  '408': err('The request was not received within the request or headers timeout'),
  '431': err('Request headers too large'),
};
const sessionErrors = {
  ...common,
  '404': err('No such session for this tenant'),
  '410': err('session_lost: the session was on an earlier start of this node'),
  '421': err('misdirected: the session lives on another node'),
};
const executeErrors = {
  ...sessionErrors,
  '409': err('The session is already executing'),
  '429': err('The tenant runs its maxConcurrent executions already (Retry-After says when to try again)'),
  '413': err('Code or body over the limit'),
  '503': err('The server is shutting down (shutting_down)'),
};
const idParam = [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }];

/** A static OpenAPI 3.1 description of the service. */
export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'PyREPL3 service',
    version: '0.1.0',
    description: 'Pooled, stateful Python sessions over HTTP and WebSocket. Every /v1 route needs `Authorization: Bearer TOKEN`.',
  },
  security: [{ bearer: [] }],
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    schemas: {
      Error: errorSchema,
      ExecuteRequest: executeBodySchema,
      ExecutionResult: resultSchema,
      Session: sessionSchema,
      CreatedSession: createdSessionSchema,
      SessionList: sessionListSchema,
      PoolSnapshot: poolSnapshotSchema,
      Execution: executionSchema,
    },
  },
  paths: {
    '/v1/sessions': {
      post: {
        summary: "Create a named session owned by the caller's tenant",
        responses: {
          '201': { description: 'Created', ...(json({ $ref: '#/components/schemas/CreatedSession' }) as object) },
          ...common,
          '429': err('The tenant is at its session quota'),
          '503': err(
            'pool_exhausted (no session in time), session_start_failed, draining, shutting_down, or quota_unavailable (Redis does not answer)',
          ),
        },
      },
      get: {
        summary: "List the caller's sessions",
        responses: { '200': { description: 'OK', ...(json({ $ref: '#/components/schemas/SessionList' }) as object) }, ...common },
      },
    },
    '/v1/sessions/{id}': {
      parameters: idParam,
      get: {
        summary: "One of the caller's sessions",
        responses: { '200': { description: 'OK', ...(json({ $ref: '#/components/schemas/Session' }) as object) }, ...sessionErrors },
      },
      delete: {
        summary: 'End a session (its process is killed)',
        responses: { '204': { description: 'Deleted' }, ...sessionErrors },
      },
    },
    '/v1/sessions/{id}/execute': {
      parameters: idParam,
      post: {
        summary: 'Run code in the session; state persists between calls',
        requestBody: { required: true, ...(json({ $ref: '#/components/schemas/ExecuteRequest' }) as object) },
        responses: {
          '200': {
            description: 'The result (a Python exception is status "error")',
            ...(json({ $ref: '#/components/schemas/ExecutionResult' }) as object),
          },
          ...executeErrors,
          '500': err("The session's process died; the session is gone"),
        },
      },
    },
    '/v1/sessions/{id}/executions/{execId}': {
      parameters: [...idParam, { name: 'execId', in: 'path', required: true, schema: { type: 'string' } }],
      get: {
        summary: "An execution's status, its result once done, and its output still in the session's log",
        responses: { '200': { description: 'OK', ...(json({ $ref: '#/components/schemas/Execution' }) as object) }, ...sessionErrors },
      },
    },
    '/v1/sessions/{id}/files/{path}': {
      parameters: [
        ...idParam,
        {
          name: 'path',
          in: 'path',
          required: true,
          description: 'Relative to the session folder; may contain /',
          schema: { type: 'string' },
        },
      ],
      put: {
        summary: "Write a file (the raw body, any content type) in the session's folder, making directories as needed",
        requestBody: { required: false, content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
        responses: {
          '204': { description: 'Written' },
          ...sessionErrors,
          '400': err('invalid_path: the path leaves the session folder (.., elsewhere, a symlink)'),
          '409': err('The session is executing'),
          '413': err('Over bodyLimit, or over the session disk limit (file_too_large)'),
        },
      },
      get: {
        summary: "Read a file of the session's folder (raw bytes)",
        responses: {
          '200': { description: 'The file', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
          ...sessionErrors,
          '400': err('invalid_path: the path leaves the session folder'),
          '409': err('The session is executing'),
          '413': err('file_too_large: larger than bodyLimit'),
        },
      },
    },
    '/v1/sessions/{id}/interrupt': {
      parameters: idParam,
      post: { summary: 'Raise KeyboardInterrupt in the running code', responses: { '202': { description: 'Accepted' }, ...sessionErrors } },
    },
    '/v1/sessions/{id}/stream': {
      parameters: idParam,
      get: {
        summary:
          'WebSocket: send {type:"execute",id,code,timeoutMs?} or {type:"interrupt"}; receive every execution of the session as {type:"output",id,seq,stream,text} and {type:"display",id,seq,output}… then {type:"result",id,seq,result} (stdout/stderr empty: streamed) or {type:"error",id,seq,error}; {type:"gap",from,to} for events the log lost. ?since=SEQ replays what came after SEQ first. A client that stops reading is closed with code 4001. Auth by header or ?token=',
        parameters: [
          { name: 'since', in: 'query', required: false, schema: { type: 'integer', minimum: 0 } },
          { name: 'token', in: 'query', required: false, schema: { type: 'string' } },
        ],
        responses: { '101': { description: 'Switching protocols' }, ...sessionErrors },
      },
    },
    '/v1/execute': {
      post: {
        summary: 'One-shot run on a fresh session from the pool, destroyed afterwards',
        requestBody: { required: true, ...(json({ $ref: '#/components/schemas/ExecuteRequest' }) as object) },
        responses: {
          '200': { description: 'The result', ...(json({ $ref: '#/components/schemas/ExecutionResult' }) as object) },
          ...common,
          '413': err('Code or body over the limit'),
          '429': err('The tenant runs its maxConcurrent executions already (Retry-After says when to try again)'),
          '503': err('pool_exhausted (no session in time), session_start_failed, draining or shutting_down'),
        },
      },
    },
    '/v1/pool': {
      get: {
        summary:
          'The pool now (pool.snapshot()): state, capacity, counters and sessions, each with its owner. An admin token sees every session, the waiters, the template and the pool id; a tenant sees only its own sessions',
        responses: { '200': { description: 'OK', ...(json({ $ref: '#/components/schemas/PoolSnapshot' }) as object) }, ...common },
      },
    },
    '/healthz': { get: { security: [], summary: 'Liveness', responses: { '200': { description: 'Alive' } } } },
    '/readyz': {
      get: {
        security: [],
        summary: 'Readiness: pool started, not draining and not shutting down',
        responses: { '200': { description: 'Ready' }, '503': err('Not ready') },
      },
    },
    '/v1/admin/drain': {
      post: {
        summary:
          'Drain this node (admin tokens only): /readyz answers 503, new sessions and one-shots get 503 draining, existing sessions keep working',
        responses: { '202': { description: 'Draining' }, ...common, '403': err('forbidden: not an admin token') },
      },
    },
    '/metrics': {
      get: { security: [], summary: 'Prometheus metrics (pyrepl3_*)', responses: { '200': { description: 'text/plain; version=0.0.4' } } },
    },
    '/openapi.json': { get: { security: [], summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1' } } } },
  },
} as const;
