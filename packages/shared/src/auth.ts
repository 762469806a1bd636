/**
 * Bearer tokens by role (issue 8): agents poll and answer, BPMS clients post, read and cancel tasks,
 * admins read the fleet (read API, dashboard data, metrics, docs) and run admin commands. Off while no
 * token is configured, so protocol v1 clients keep working unchanged. Tokens are compared in constant
 * time (through their SHA-256) and never logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Config } from './config.js';
import { ConfigError } from './config.js';

export const ROLES = ['agent', 'bpms', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface Credential {
  role: Role;
  /** An agent token bound to one agent may act for that agent only. */
  agentId?: string;
}

interface Entry extends Credential {
  digest: Buffer;
}

const digest = (token: string) => createHash('sha256').update(token).digest();
const UUID = /^[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}$/;

export class Tokens {
  private constructor(private readonly entries: Entry[]) {}

  static fromConfig(config: Pick<Config, 'AGENT_TOKENS' | 'BPMS_TOKENS' | 'ADMIN_TOKENS' | 'TOKEN_FILE'>): Tokens {
    const entries: Entry[] = [];
    const add = (role: Role, token: string, agentId?: string, where = role.toUpperCase() + '_TOKENS') => {
      if (agentId !== undefined && (role !== 'agent' || !UUID.test(agentId))) {
        throw new ConfigError(`${where}: only an agent token may be bound, to an agent UUID`);
      }
      const hash = digest(token);
      // One token, one meaning: the same token listed for two roles or agents would act as whichever came first.
      if (entries.some((entry) => entry.digest.equals(hash))) throw new ConfigError(`${where}: a token is listed more than once`);
      entries.push({ role, digest: hash, ...(agentId ? { agentId: agentId.toLowerCase() } : {}) });
    };
    for (const [role, list] of [
      ['agent', config.AGENT_TOKENS],
      ['bpms', config.BPMS_TOKENS],
      ['admin', config.ADMIN_TOKENS],
    ] as const) {
      for (const entry of (list ?? '')
        .split(',')
        .map((item) => item.trim())
        .filter(Boolean)) {
        const [token, agentId] = entry.split('@');
        add(role, token!, agentId);
      }
    }
    if (config.TOKEN_FILE) {
      let text: string;
      try {
        text = readFileSync(config.TOKEN_FILE, 'utf8');
      } catch (error) {
        throw new ConfigError(`TOKEN_FILE ${config.TOKEN_FILE}: cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
      }
      text.split(/\r?\n/).forEach((line, index) => {
        const words = line.trim().split(/\s+/);
        if (!words[0] || words[0].startsWith('#')) return;
        const where = `TOKEN_FILE ${config.TOKEN_FILE}, line ${index + 1}`;
        if (!ROLES.includes(words[0] as Role) || !words[1] || words[1].length < 16 || words.length > 3) {
          throw new ConfigError(`${where}: expected "agent|bpms|admin <token of 16+ characters> [agent-uuid]"`);
        }
        add(words[0] as Role, words[1], words[2], where);
      });
    }
    return new Tokens(entries);
  }

  /** Authentication is on as soon as one token is configured. */
  get enabled(): boolean {
    return this.entries.length > 0;
  }

  /** Whether any token of this role is configured. */
  has(role: Role): boolean {
    return this.entries.some((entry) => entry.role === role);
  }

  /** Whether a token is bound to this agent: then only that token may act as it. */
  isBound(agentId: string): boolean {
    const id = agentId.toLowerCase();
    return this.entries.some((entry) => entry.agentId === id);
  }

  /** Whether any agent token is bound to an agent (then answers are checked against the claim's holder). */
  get hasBoundAgents(): boolean {
    return this.entries.some((entry) => entry.agentId !== undefined);
  }

  /** The credential of a presented token, or undefined; every configured token is compared. */
  identify(token: string): Credential | undefined {
    const presented = digest(token);
    let found: Entry | undefined;
    for (const entry of this.entries) {
      if (timingSafeEqual(entry.digest, presented) && !found) found = entry;
    }
    return found && { role: found.role, ...(found.agentId ? { agentId: found.agentId } : {}) };
  }
}
