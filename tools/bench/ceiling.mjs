#!/usr/bin/env node
// The HTTP ceiling of `npm run bench -- --compare` (issue 14): a bare Fastify that parses each JSON body
// and answers `{}` to a task post and an empty task list to a poll. What AFM does beyond this is its
// own work; what this does is the least any Fastify service on this machine pays per request.
//   node tools/bench/ceiling.mjs PORT     prints {"event":"ready"} once it listens
import Fastify from 'fastify';

const port = Number(process.argv[2]);
const app = Fastify({ logger: false });
app.post('/task', async () => ({}));
app.post('/tasks', async () => ({ tasks: [] }));
app.post('/tasks/response', async () => ({}));
await app.listen({ port, host: '127.0.0.1' });
process.stdout.write(`${JSON.stringify({ event: 'ready', port })}\n`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
