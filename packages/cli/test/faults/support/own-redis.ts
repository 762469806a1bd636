/**
 * A Redis that a fault test owns: its own port and data directory, append-only file fsynced on every
 * write (what a production AFM Redis should run with), so the test can kill -9 it and start it again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { waitFor } from '@afm/shared/testing/wait';
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
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--appendonly',
    'yes',
    '--appendfsync',
    'always',
    '--save',
    '',
    '--logfile',
    join(dir, 'redis.log'),
  ];
  let child: ChildProcess | undefined;
  let exited: Promise<unknown> = Promise.resolve();

  async function start() {
    const started = spawn(process.env.AFM_FAULTS_REDIS_SERVER ?? 'redis-server', args, { stdio: 'ignore' });
    child = started;
    exited = new Promise((resolve) => started.once('exit', resolve));
    const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    probe.on('error', () => undefined);
    try {
      await waitFor(
        async () => {
          if (started.exitCode !== null) throw new Error(`redis-server exited with ${started.exitCode}; see ${dir}/redis.log`);
          if (probe.status !== 'ready') await probe.connect().catch(() => probe.disconnect());
          // Loading the append-only file answers LOADING errors until it is done.
          return (await probe.ping()) === 'PONG';
        },
        { timeoutMs: 15_000, what: `redis-server on port ${port}` },
      );
    } finally {
      probe.disconnect();
    }
  }

  async function kill() {
    child?.kill('SIGKILL');
    await exited;
  }

  await start();
  return {
    url: `redis://127.0.0.1:${port}/0`,
    kill,
    start,
    async close() {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
