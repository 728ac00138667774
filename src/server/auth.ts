import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { InvalidOptionError } from '../index.js';

/** One entry of a tokens file: `[{ "token": "...", "tenant": "alice", "maxSessions": 4, "maxConcurrent": 4, "admin": false }]`. */
export interface TenantToken {
  token: string;
  tenant: string;
  /** Named sessions this tenant may hold at once; the server's default (4) when absent. */
  maxSessions?: number;
  /** Executions this tenant may run or wait for at once, one-shots included; the server's default (4) when absent. */
  maxConcurrent?: number;
  /** An operator: GET /v1/pool shows every session, waiter and the template, and POST /v1/admin/drain is allowed. Default false. */
  admin?: boolean;
}

export interface Tenant {
  name: string;
  maxSessions: number;
  maxConcurrent: number;
  admin: boolean;
}

/** The quotas of a tenant whose token names none. */
export interface TenantDefaults {
  maxSessions: number;
  maxConcurrent: number;
}

/** A fresh random bearer token (256 bits, base64url). */
export function randomToken(): string {
  return randomBytes(32).toString('base64url');
}

export function validateTokens(value: unknown): TenantToken[] {
  if (!Array.isArray(value)) throw new InvalidOptionError('tokens must be a JSON array');
  const seen = new Set<string>();
  return value.map((entry: unknown, i) => {
    const e = entry as Partial<TenantToken> | null;
    if (typeof e !== 'object' || e === null) throw new InvalidOptionError(`tokens[${i}] must be an object`);
    if (typeof e.token !== 'string' || e.token.length < 8)
      throw new InvalidOptionError(`tokens[${i}].token must be a string of at least 8 characters`);
    if (typeof e.tenant !== 'string' || e.tenant === '') throw new InvalidOptionError(`tokens[${i}].tenant must be a non-empty string`);
    for (const quota of ['maxSessions', 'maxConcurrent'] as const) {
      const value = e[quota];
      if (value !== undefined && (!Number.isInteger(value) || value < 0))
        throw new InvalidOptionError(`tokens[${i}].${quota} must be an integer >= 0`);
    }
    if (e.admin !== undefined && typeof e.admin !== 'boolean') throw new InvalidOptionError(`tokens[${i}].admin must be true or false`);
    if (seen.has(e.token)) throw new InvalidOptionError(`tokens[${i}].token is used twice`);
    seen.add(e.token);
    return {
      token: e.token,
      tenant: e.tenant,
      ...(e.maxSessions !== undefined ? { maxSessions: e.maxSessions } : {}),
      ...(e.maxConcurrent !== undefined ? { maxConcurrent: e.maxConcurrent } : {}),
      ...(e.admin !== undefined ? { admin: e.admin } : {}),
    };
  });
}

export async function loadTokensFile(path: string): Promise<TenantToken[]> {
  const text = await readFile(path, 'utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new InvalidOptionError(`tokens file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  return validateTokens(parsed);
}

const digest = (token: string): string => createHash('sha256').update(token).digest('hex');

/**
 * Resolves bearer tokens to tenants. Tokens are kept only as SHA-256 digests and looked up by
 * digest, so lookup time does not depend on how much of a guessed token matches.
 */
export class Authenticator {
  readonly #byDigest = new Map<string, Tenant>();

  constructor(tokens: readonly TenantToken[], defaults: TenantDefaults = { maxSessions: 4, maxConcurrent: 4 }) {
    for (const t of validateTokens(tokens)) {
      this.#byDigest.set(digest(t.token), {
        name: t.tenant,
        maxSessions: t.maxSessions ?? defaults.maxSessions,
        maxConcurrent: t.maxConcurrent ?? defaults.maxConcurrent,
        admin: t.admin === true,
      });
    }
  }

  resolve(token: string | undefined | null): Tenant | null {
    if (!token) return null;
    return this.#byDigest.get(digest(token)) ?? null;
  }

  /** The token of an `Authorization: Bearer TOKEN` header, or null. */
  static bearer(header: string | undefined): string | null {
    if (!header) return null;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return match?.[1] ?? null;
  }
}
