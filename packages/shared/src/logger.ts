/** pino loggers configured by LOG_LEVEL, LOG_FILE and LOG_FORMAT (README, Configuration). */
import { pino, type Logger, type LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';
import type { Config } from './config.js';

export type { Logger } from 'pino';

export function createLogger(config: Pick<Config, 'LOG_LEVEL' | 'LOG_FILE' | 'LOG_FORMAT'>, name: string): Logger {
  const numeric = /^\d+$/.test(config.LOG_LEVEL);
  const options = {
    name,
    // pino takes names; a number maps to the nearest standard level at or below it.
    level: numeric ? levelName(Number(config.LOG_LEVEL)) : (config.LOG_LEVEL as LevelWithSilent),
    base: { pid: process.pid },
    // Tokens never reach a log line, whatever gets logged.
    redact: { paths: ['req.headers.authorization', 'headers.authorization', '*.authorization'], censor: '***' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  const destination = config.LOG_FILE ?? 2;
  if (config.LOG_FORMAT === 'pretty') {
    // In this thread and synchronous: a transport thread would lose the last lines at exit.
    return pino(options, pretty({ destination, colorize: false, sync: true, mkdir: true }));
  }
  return pino(options, pino.destination({ dest: destination, sync: false, mkdir: true }));
}

/** Query parameters whose values never reach a log line (a client may send a token in the URL). */
const SECRET_PARAM = /token|secret|passw|key|auth|sig|cred|session/i;

/** A request URL as logged: the values of secret-looking query parameters masked. */
export function redactUrl(url: string): string {
  const query = url.indexOf('?');
  if (query < 0) return url;
  const masked = url
    .slice(query + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq < 0 ? pair : pair.slice(0, eq);
      let decoded = name;
      try {
        decoded = decodeURIComponent(name);
      } catch {
        // a malformed escape: judge the name as sent
      }
      return eq >= 0 && SECRET_PARAM.test(decoded) ? `${name}=***` : pair;
    });
  return `${url.slice(0, query)}?${masked.join('&')}`;
}

function levelName(value: number): LevelWithSilent {
  const levels: [number, LevelWithSilent][] = [
    [60, 'fatal'],
    [50, 'error'],
    [40, 'warn'],
    [30, 'info'],
    [20, 'debug'],
    [10, 'trace'],
  ];
  if (value === Infinity || value > 60) return 'silent';
  return levels.find(([threshold]) => value >= threshold)?.[1] ?? 'trace';
}
