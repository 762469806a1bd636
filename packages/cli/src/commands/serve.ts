/** `run`, `worker`, `start`: the processes of an AFM deployment (README, Command line). */
import { Command, Option, UsageError } from 'clipanion';
import * as t from 'typanion';
import { WORKER_STALE_MS } from '@afm/shared/dispatch/workers';
import { serve } from '../runtime/serve.js';
import { checkWorker } from '../runtime/worker-check.js';
import { AfmCommand } from './base.js';

const portValidator = t.cascade(t.isNumber(), [t.isInteger(), t.isInInclusiveRange(0, 65535)]);

abstract class ListeningCommand extends AfmCommand {
  host = Option.String({ required: false, name: 'HOST' });
  port = Option.String({ required: false, name: 'PORT', validator: portValidator });

  /** The configuration, and the address to listen on: the arguments, else the HOST and PORT keys. */
  protected listening() {
    const loaded = this.loadConfig();
    return { loaded, api: { host: this.host ?? loaded.config.HOST, port: this.port ?? loaded.config.PORT } };
  }
}

export class RunCommand extends ListeningCommand {
  static override paths = [['run']];
  static override usage = Command.Usage({
    description: 'Run one API replica',
    details: `Serves protocol v1 on HOST:PORT (default: the HOST and PORT configuration keys, 127.0.0.1 8080). Replicas are stateless: run as many as needed behind a load balancer, plus at least one \`worker\`.`,
    examples: [
      ['Serve on the default address', '$0 run'],
      ['Serve on all interfaces, port 9000', '$0 run 0.0.0.0 9000'],
    ],
  });

  async run() {
    const { loaded, api } = this.listening();
    return serve(loaded, { api, name: 'afm-api' });
  }
}

export class WorkerCommand extends AfmCommand {
  static override paths = [['worker']];
  static override usage = Command.Usage({
    description: 'Run a worker',
    details: `Writes results to Postgres and runs the repeatable maintenance jobs. Several workers may run; each schedule runs once.\n\nWith \`--check\` it runs no worker: it exits 0 when a worker of this deployment (same QUEUE_PREFIX) on this host sent a heartbeat within the last ${WORKER_STALE_MS / 1000} s, 1 otherwise (or when Redis cannot be reached) — a container healthcheck. \`--any\` accepts a worker on any host.`,
    examples: [
      ['Run a worker', '$0 worker'],
      ["Healthcheck of this container's worker", '$0 worker --check'],
      ['Is any worker of the deployment alive?', '$0 worker --check --any'],
    ],
  });

  check = Option.Boolean('--check', false, {
    description: "Only check that this host's worker sent a heartbeat recently (exit 0) or not (exit 1)",
  });
  any = Option.Boolean('--any', false, { description: 'With --check: a worker on any host will do' });

  async run() {
    if (this.any && !this.check) throw new UsageError('--any goes with --check');
    if (!this.check) return serve(this.loadConfig(), { worker: true, name: 'afm-worker' });
    const result = await checkWorker(this.loadConfig().config, { any: this.any });
    if (!result.ok) {
      this.context.stderr.write(`slamon-afm: ${result.message}\n`);
      return 1;
    }
    const { worker, host } = result;
    const ago = ((Date.now() - worker.lastBeat) / 1000).toFixed(1);
    this.context.stdout.write(`worker ${worker.id} alive${host ? ` on host ${host}` : ''}: last heartbeat ${ago} s ago\n`);
    return 0;
  }
}

export class StartCommand extends ListeningCommand {
  static override paths = [['start']];
  static override usage = Command.Usage({
    description: 'Run an API replica and a worker in one process',
    details: `The single-machine default: serves protocol v1 on HOST:PORT (default: the HOST and PORT configuration keys, 127.0.0.1 8080) and processes results in the same process.`,
    examples: [['Serve on the default address', '$0 start']],
  });

  async run() {
    const { loaded, api } = this.listening();
    return serve(loaded, { api, worker: true, name: 'afm' });
  }
}
