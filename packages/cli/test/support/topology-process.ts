/** Runs tools/topology.mjs (balancer + replicas + worker as child processes) for a test. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Config } from '@afm/shared/config';
import { waitFor } from '@afm/shared/testing/wait';
import { configEnv } from './topology.js';

const SCRIPT = fileURLToPath(new URL('../../../../tools/topology.mjs', import.meta.url));

export interface TopologyEvent {
  event: 'ready' | 'exit';
  name?: string;
  pid?: number;
  code?: number | null;
  signal?: string | null;
  lb?: string;
  processes?: { name: string; pid: number; url?: string }[];
}

export interface RunningTopology {
  lb: string;
  pid(name: string): number;
  /** Stops a replica as a Kubernetes rollout does: out of the balancer's rotation, then SIGTERM. */
  stopReplica(name: string): void;
  /** Resolves with the exit event of a child. */
  exited(name: string, timeoutMs?: number): Promise<TopologyEvent>;
  stop(): Promise<void>;
  child: ChildProcess;
}

export async function startTopology(config: Config, port: number, overrides: Record<string, string> = {}): Promise<RunningTopology> {
  const child = spawn(process.execPath, [SCRIPT, '--port', String(port)], {
    env: configEnv(config, overrides),
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  child.stdin!.on('error', () => undefined); // a topology that died is reported by its exit event
  const events: TopologyEvent[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (line.startsWith('{"event"')) events.push(JSON.parse(line) as TopologyEvent);
  });
  const ready = await waitFor(() => events.find((event) => event.event === 'ready'), { timeoutMs: 30_000, what: 'the topology' });
  return {
    lb: ready.lb!,
    child,
    pid: (name) => ready.processes!.find((process) => process.name === name)!.pid,
    stopReplica: (name) => void child.stdin!.write(`stop ${name}\n`),
    exited: (name, timeoutMs = 20_000) =>
      waitFor(() => events.find((event) => event.event === 'exit' && event.name === name), { timeoutMs, what: `${name} to exit` }),
    async stop() {
      if (child.exitCode !== null) return;
      const done = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await done;
    },
  };
}
