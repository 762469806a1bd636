/** `run`, `worker`, `start`: the processes of an AFM deployment (README, Command line). */
import { Command, Option } from 'clipanion';
import * as t from 'typanion';
import { serve } from '../runtime/serve.js';
import { AfmCommand } from './base.js';

const DEFAULT_HOST = '127.0.0.1';
const DEFAULT_PORT = 8080;

const portValidator = t.cascade(t.isNumber(), [t.isInteger(), t.isInInclusiveRange(0, 65535)]);

abstract class ListeningCommand extends AfmCommand {
  host = Option.String({ required: false, name: 'host' });
  port = Option.String({ required: false, name: 'port', validator: portValidator });

  protected listenOn() {
    return { host: this.host ?? DEFAULT_HOST, port: this.port ?? DEFAULT_PORT };
  }
}

export class RunCommand extends ListeningCommand {
  static override paths = [['run']];
  static override usage = Command.Usage({
    description: 'Run one API replica',
    details: `Serves protocol v1 on HOST:PORT (default ${DEFAULT_HOST} ${DEFAULT_PORT}). Replicas are stateless: run as many as needed behind a load balancer, plus at least one \`worker\`.`,
    examples: [
      ['Serve on the default address', '$0 run'],
      ['Serve on all interfaces, port 9000', '$0 run 0.0.0.0 9000'],
    ],
  });

  async run() {
    return serve(this.loadConfig(), { api: this.listenOn(), name: 'afm-api' });
  }
}

export class WorkerCommand extends AfmCommand {
  static override paths = [['worker']];
  static override usage = Command.Usage({
    description: 'Run a worker',
    details: 'Writes results to Postgres and runs the repeatable maintenance jobs. Several workers may run; each schedule runs once.',
  });

  async run() {
    return serve(this.loadConfig(), { worker: true, name: 'afm-worker' });
  }
}

export class StartCommand extends ListeningCommand {
  static override paths = [['start']];
  static override usage = Command.Usage({
    description: 'Run an API replica and a worker in one process',
    details: `The single-machine default: serves protocol v1 on HOST:PORT (default ${DEFAULT_HOST} ${DEFAULT_PORT}) and processes results in the same process.`,
    examples: [['Serve on the default address', '$0 start']],
  });

  async run() {
    return serve(this.loadConfig(), { api: this.listenOn(), worker: true, name: 'afm' });
  }
}
