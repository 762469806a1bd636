/**
 * A Redis that a fault test owns: its own port and data directory, append-only file fsynced on every
 * write (what a production AFM Redis should run with), so the test can kill -9 it and start it again.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dataArgs, RedisNode } from '@afm/shared/testing/redis-servers';
import { freePort } from '../../support/topology.js';

export interface OwnRedis {
  url: string;
  /** kill -9: no shutdown save, only what the append-only file already holds survives. */
  kill(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startOwnRedis(): Promise<OwnRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'afm-fault-redis-'));
  const port = await freePort();
  const node = new RedisNode(port, dir, [...dataArgs(port, dir), '--appendonly', 'yes', '--appendfsync', 'always']);
  await node.start();
  return {
    url: `redis://127.0.0.1:${port}/0`,
    kill: () => node.kill(),
    start: () => node.start(),
    async close() {
      await node.kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
