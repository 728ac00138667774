import type { FastifyInstance } from 'fastify';
import type { Tenant } from '../auth.js';
import { tenantOf } from '../context.js';
import { newJupyterId, refuseForeign, type NodeIdentity } from '../node-identity.js';
import { JupyterError } from './errors.js';
import type { KernelManager, KernelModel } from './manager.js';

/** A notebook's session: which kernel a document uses. Only clients talking to the service directly use it. */
interface NotebookSession {
  id: string;
  tenant: string;
  path: string;
  name: string;
  type: string;
  kernelId: string;
}

interface SessionBody {
  path?: string;
  name?: string;
  type?: string;
  kernel?: { id?: string; name?: string };
}

export interface SessionModel {
  id: string;
  path: string;
  name: string;
  type: string;
  kernel: KernelModel;
  notebook: { path: string; name: string };
}

/** /api/sessions, kept in memory per tenant; a session whose kernel is gone is gone too. */
export class NotebookSessions {
  readonly #sessions = new Map<string, NotebookSession>();

  constructor(
    private readonly manager: KernelManager,
    private readonly identity: NodeIdentity,
  ) {}

  async create(tenant: Tenant, body: SessionBody): Promise<SessionModel> {
    const kernelId = await this.#kernelFor(tenant, body);
    const session: NotebookSession = {
      id: newJupyterId(this.identity),
      tenant: tenant.name,
      path: body.path ?? '',
      name: body.name ?? '',
      type: body.type ?? 'notebook',
      kernelId,
    };
    this.#sessions.set(session.id, session);
    return this.#model(tenant, session);
  }

  list(tenant: Tenant): SessionModel[] {
    return [...this.#sessions.values()].filter((s) => this.#alive(tenant, s)).map((s) => this.#model(tenant, s));
  }

  get(tenant: Tenant, id: string): SessionModel {
    return this.#model(tenant, this.#find(tenant, id));
  }

  async update(tenant: Tenant, id: string, body: SessionBody): Promise<SessionModel> {
    const session = this.#find(tenant, id);
    if (body.kernel !== undefined) await this.#changeKernel(tenant, session, body);
    session.path = body.path ?? session.path;
    session.name = body.name ?? session.name;
    session.type = body.type ?? session.type;
    return this.#model(tenant, session);
  }

  /** Ends the session and its kernel, as Jupyter Server does. */
  async delete(tenant: Tenant, id: string): Promise<void> {
    const session = this.#find(tenant, id);
    this.#sessions.delete(id);
    await this.manager.delete(tenant, session.kernelId).catch(() => undefined); // already gone: nothing to end
  }

  /** A session moved to another kernel: the one it leaves is shut down, as Jupyter Server does. */
  async #changeKernel(tenant: Tenant, session: NotebookSession, body: SessionBody): Promise<void> {
    const old = session.kernelId;
    session.kernelId = await this.#kernelFor(tenant, body);
    if (session.kernelId !== old) await this.manager.delete(tenant, old).catch(() => undefined); // already gone
  }

  async #kernelFor(tenant: Tenant, body: SessionBody): Promise<string> {
    const wanted = body.kernel?.id;
    if (wanted !== undefined) return this.manager.get(tenant, wanted).id;
    return (await this.manager.create(tenant)).id;
  }

  #find(tenant: Tenant, id: string): NotebookSession {
    refuseForeign(this.identity, id);
    const session = this.#sessions.get(id);
    if (session === undefined || !this.#alive(tenant, session)) throw new JupyterError(404, `Session not found: ${id}`);
    return session;
  }

  /** Whether the session is the tenant's and its kernel still exists; forgets it when the kernel is gone. */
  #alive(tenant: Tenant, session: NotebookSession): boolean {
    if (session.tenant !== tenant.name) return false;
    if (this.manager.list(tenant).some((kernel) => kernel.id === session.kernelId)) return true;
    this.#sessions.delete(session.id);
    return false;
  }

  #model(tenant: Tenant, session: NotebookSession): SessionModel {
    const { id, path, name, type } = session;
    const kernel = this.manager.model(this.manager.get(tenant, session.kernelId));
    return { id, path, name, type, kernel, notebook: { path, name } };
  }
}

export function sessionRoutes(app: FastifyInstance, sessions: NotebookSessions): void {
  app.get('/sessions', async (request) => sessions.list(tenantOf(request)));
  app.post<{ Body: SessionBody | undefined }>('/sessions', async (request, reply) => {
    return reply.code(201).send(await sessions.create(tenantOf(request), request.body ?? {}));
  });
  app.get<{ Params: { sessionId: string } }>('/sessions/:sessionId', async (request) =>
    sessions.get(tenantOf(request), request.params.sessionId),
  );
  app.patch<{ Params: { sessionId: string }; Body: SessionBody | undefined }>('/sessions/:sessionId', async (request) => {
    return sessions.update(tenantOf(request), request.params.sessionId, request.body ?? {});
  });
  app.delete<{ Params: { sessionId: string } }>('/sessions/:sessionId', async (request, reply) => {
    await sessions.delete(tenantOf(request), request.params.sessionId);
    return reply.code(204).send();
  });
}
