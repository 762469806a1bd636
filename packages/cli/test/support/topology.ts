/**
 * AFM topologies for system tests: API replicas and workers in this process (each with its own
 * connections, like separate processes) or as real child processes that can be killed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { redisEnv, type Config } from '@afm/shared/config';
import type { Logger } from '@afm/shared/logger';
import { waitFor } from '@afm/shared/testing/wait';
import { startApiServer, type ApiServer } from '@afm/api/server';
import { runWorker } from '@afm/worker/main';
import type { WorkerOptions } from '@afm/worker/worker';

export const startReplica = (config: Config, logger: Logger): Promise<ApiServer> =>
  startApiServer({ config, logger, host: '127.0.0.1', port: 0 });

export const startInProcessWorker = (config: Config, logger: Logger, options: WorkerOptions = {}) =>
  runWorker({ config, logger, ...options });

const BIN = fileURLToPath(new URL('../../bin/slamon-afm.js', import.meta.url));

/** Environment that hands a config to a child `slamon-afm` process. */
export function configEnv(config: Config, overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    DATABASE_URI: config.DATABASE_URI,
    ...redisEnv(config),
    QUEUE_PREFIX: config.QUEUE_PREFIX,
    AUTO_CREATE: 'false',
    LOG_LEVEL: process.env.AFM_TEST_LOG_LEVEL ?? 'warn',
    ...overrides,
  };
}

export interface AfmProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): Promise<number | string>;
}

export function spawnAfm(args: string[], env: NodeJS.ProcessEnv): AfmProcess {
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return {
    child,
    output: () => output,
    exited,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Spawns `slamon-afm run` on a free port and waits until it answers. */
export async function spawnReplica(config: Config, port: number, overrides: Record<string, string> = {}) {
  const proc = spawnAfm(['run', '127.0.0.1', String(port)], configEnv(config, overrides));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`replica exited: ${proc.output()}`);
      return (await fetch(`${url}/status`)).status === 200;
    },
    { timeoutMs: 20_000, what: `replica on port ${port}` },
  );
  return { ...proc, url };
}

export const spawnWorker = (config: Config, overrides: Record<string, string> = {}) => spawnAfm(['worker'], configEnv(config, overrides));

/** A free TCP port (bound then released). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
