/** Runs `slamon-afm` in this process with captured output (clipanion's context), against a config. */
import { PassThrough } from 'node:stream';
import type { Config } from '@afm/shared/config';
import { runCli } from '../../src/cli.js';
import { configEnv } from './topology.js';

export async function runAfm(config: Config, argv: string[], vars: Record<string, string> = {}) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk) => (out += chunk));
  stderr.on('data', (chunk) => (err += chunk));
  const code = await runCli(argv, {
    stdout,
    stderr,
    stdin: new PassThrough() as never,
    env: { ...configEnv(config), ...vars },
    colorDepth: 1,
  });
  return { code, out, err, json: () => JSON.parse(out) };
}
