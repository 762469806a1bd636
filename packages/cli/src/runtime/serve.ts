/**
 * Runs API replicas and/or a worker in this process until SIGTERM or SIGINT, then shuts down in order:
 * the API stops taking connections and finishes in-flight requests, the worker finishes or returns its
 * jobs, storage connections close. A shutdown that overruns its bound exits 1.
 */
import type { LoadedConfig } from '@afm/shared/config';
import { createLogger, type Logger } from '@afm/shared/logger';
import { startApiServer } from '@afm/api/server';
import { runWorker } from '@afm/worker/main';
import { prepareDatabase } from './database.js';

export const SHUTDOWN_BOUND_MS = 15_000;

export interface ServeOptions {
  api?: { host: string; port: number };
  worker?: boolean;
  name: string;
}

export async function serve(loaded: LoadedConfig, options: ServeOptions): Promise<number> {
  const { config } = loaded;
  const logger = createLogger(config, options.name);
  const parts: { close(): Promise<void> }[] = [];
  const stopAll = async () => {
    for (const part of parts.reverse()) await part.close();
  };
  // Listening from the start: a SIGTERM while the parts start (Redis or Postgres slow to answer)
  // closes what has started and exits 0, instead of the process dying half-started.
  let started = false;
  let stoppedEarly: Promise<number> | undefined;
  const stopped = new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
    watchLauncher(() => resolve('npm exited'));
  });
  void stopped.then(async (signal) => {
    if (started) return;
    logger.info({ signal }, 'stopped while starting');
    stoppedEarly = shutdown(stopAll, logger);
    process.exitCode = await stoppedEarly;
    process.exit();
  });
  for (const warning of loaded.warnings) logger.warn(warning);
  if (config.AUTO_CREATE) await prepareDatabase(config, logger);

  try {
    if (options.worker) parts.push(await runWorker({ config, logger }));
    if (options.api) parts.push(await startApiServer({ config, logger, ...options.api }));
  } catch (error) {
    await stopAll().catch(() => undefined);
    throw error;
  }

  started = true;
  if (stoppedEarly) return stoppedEarly;
  const signal = await stopped;
  logger.info({ signal }, 'shutting down');
  return shutdown(stopAll, logger);
}

/**
 * Started by npm or npx (`npm start`, `npx slamon-afm …`), AFM runs under a shell that npm stops on
 * SIGTERM without passing the signal on. So when the process that started it is gone, AFM stops as if
 * it had been sent SIGTERM, instead of serving on with nobody to stop it.
 */
function watchLauncher(stop: () => void): void {
  if (!process.env.npm_command) return;
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid !== parent) {
      clearInterval(timer);
      stop();
    }
  }, 500);
  timer.unref();
}

async function shutdown(stopAll: () => Promise<void>, logger: Logger): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const overrun = new Promise<number>((resolve) => {
    timer = setTimeout(() => {
      logger.error({ boundMs: SHUTDOWN_BOUND_MS }, 'shutdown overran its bound');
      resolve(1);
    }, SHUTDOWN_BOUND_MS);
  });
  const done = stopAll().then(
    () => 0,
    (error: unknown) => {
      logger.error({ err: error }, 'shutdown failed');
      return 1;
    },
  );
  const code = await Promise.race([done, overrun]);
  clearTimeout(timer);
  logger.info({ code }, 'stopped');
  await new Promise<void>((resolve) => logger.flush(() => resolve()));
  return code;
}
