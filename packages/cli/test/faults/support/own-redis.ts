/**
 * A Redis that a fault test owns: its own port and data directory, append-only file fsynced on every
 * write (what a production AFM Redis should run with), so the test can kill -9 it and start it again.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dataArgs, freePorts, onFreePorts, RedisNode } from '@afm/shared/testing/redis-servers';

export interface OwnRedis {
  url: string;
  /** kill -9: no shutdown save, only what the append-only file already holds survives. */
  kill(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startOwnRedis(): Promise<OwnRedis> {
  const root = await mkdtemp(join(tmpdir(), 'afm-fault-redis-'));
  // Started again (start()) on the same port: a port below the ephemeral range stays free meanwhile.
  const node = await onFreePorts(async () => {
    const [port] = await freePorts(1);
    // A directory per attempt: an earlier attempt's log would name the wrong cause.
    const dir = join(root, String(port));
    await mkdir(dir);
    const candidate = new RedisNode(port!, dir, [...dataArgs(port!, dir), '--appendonly', 'yes', '--appendfsync', 'always']);
    await candidate.start().catch(async (error: unknown) => {
      await candidate.kill();
      throw error;
    });
    return candidate;
  }).catch(async (error: unknown) => {
    await rm(root, { recursive: true, force: true });
    throw error;
  });
  const port = node.port;
  return {
    url: `redis://127.0.0.1:${port}/0`,
    kill: () => node.kill(),
    start: () => node.start(),
    async close() {
      await node.kill();
      await rm(root, { recursive: true, force: true });
    },
  };
}
