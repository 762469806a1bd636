/** `config`: the effective configuration, where each value came from, secrets masked (README, Configuration). */
import { Command, Option } from 'clipanion';
import { CONFIG_KEYS, describeRedis, showValue } from '@afm/shared/config';
import { AfmCommand } from './base.js';

export class ConfigCommand extends AfmCommand {
  static override paths = [['config']];
  static override usage = Command.Usage({
    description: 'Print the effective configuration and where each value came from',
    details:
      'Sources, lowest first: default, env (environment), file (--config or $SLAMON_AFM_CFG), flag. Passwords in URLs are masked. An invalid value exits with code 2 and names the key.',
    examples: [
      ['Show the configuration', '$0 config'],
      ['As JSON, with a config file', '$0 config --config /etc/slamon/afm.cfg --json'],
    ],
  });

  json = Option.Boolean('--json', false, { description: 'Print JSON instead of a table' });

  async run() {
    const { config, sources, file, warnings } = this.loadConfig();
    const rows = CONFIG_KEYS.map((key) => {
      return { key, value: showValue(key, config[key]), source: sources[key] };
    });
    const redis = describeRedis(config);
    if (this.json) {
      // Numbers and booleans keep their type for scripts; everything else as the table shows it (secrets masked).
      const typed = rows.map((row) => {
        const value = config[row.key];
        return typeof value === 'number' || typeof value === 'boolean' ? { ...row, value } : row;
      });
      this.context.stdout.write(`${JSON.stringify({ file: file ?? null, redis, config: typed, warnings }, null, 2)}\n`);
      return;
    }
    const width = (column: 'key' | 'value') => Math.max(column.length, ...rows.map((row) => row[column].length));
    const [keyWidth, valueWidth] = [width('key'), width('value')];
    const line = (key: string, value: string, source: string) => `${key.padEnd(keyWidth)}  ${value.padEnd(valueWidth)}  ${source}\n`;
    this.context.stdout.write(line('KEY', 'VALUE', 'SOURCE'));
    for (const row of rows) this.context.stdout.write(line(row.key, row.value, row.source));
    this.context.stdout.write(`\nredis: ${redis}\n`);
    if (file) this.context.stdout.write(`\nconfig file: ${file}\n`);
    for (const warning of warnings) this.context.stderr.write(`warning: ${warning}\n`);
  }
}
