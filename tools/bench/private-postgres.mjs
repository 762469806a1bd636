// A Postgres server of the benchmark's own (`--postgres private`): Debian's initdb and pg_ctl on a free
// local port, in a temporary directory, with the stock settings a production server starts from
// (autovacuum on, fsync on) whatever the shared server of the machine was configured with; stopped
// and removed afterwards.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './system.mjs';

const run = promisify(execFile);

/** The newest server of /usr/lib/postgresql (Debian's layout). */
function binDir() {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  if (!versions[0]) throw new Error("--postgres private needs Debian's postgresql package (initdb in /usr/lib/postgresql/*/bin)");
  return join(root, versions[0], 'bin');
}

export async function startPrivatePostgres() {
  const bin = binDir();
  const dir = await mkdtemp(join(tmpdir(), 'afm-bench-pg-'));
  const data = join(dir, 'data');
  // The server refuses to run as root: it runs as the `postgres` account then.
  const asRoot = userInfo().uid === 0;
  if (asRoot) {
    const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
    const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
    await chown(dir, uid, gid);
  }
  const exec = (name, args) => (asRoot ? run('runuser', ['-u', 'postgres', '--', join(bin, name), ...args]) : run(join(bin, name), args));
  const port = await freePort();
  await exec('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres']);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200`;
  await exec('pg_ctl', ['-D', data, '-o', options, '-l', join(dir, 'server.log'), '-w', 'start']);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async stop() {
      await exec('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
