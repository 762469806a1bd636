import { runCli } from './cli.js';

process.exitCode = await runCli(process.argv.slice(2));
// Everything is closed by now; should a library keep a handle open, do not hang on it.
setTimeout(() => process.exit(), 2_000).unref();
