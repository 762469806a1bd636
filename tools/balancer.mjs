// The load balancer of tools/topology.mjs: round robin over AFM replicas. A request that never reached
// a replica (connection refused, or a kept-alive connection the replica had closed while idle) goes to
// the next one, and so does one answered 503 (AFM's "retry later"; nginx, which cannot tell AFM's 503
// from others, retries only repeatable requests after one). After a connection reset mid-request a
// request is retried only where a repeat is safe (`repeatable`): never a poll, which may have claimed
// tasks before it was cut.
import { createServer, request as httpRequest } from 'node:http';

/** The request never reached the replica. */
const NOT_SENT = new Set(['ECONNREFUSED']);
/** The request may have reached the replica: retried only where a repeat is safe. */
const MAYBE_SENT = new Set(['ECONNRESET', 'EPIPE']);

const pathOf = (url) => url.split('?')[0].replace(/\/$/, '');

/**
 * Repeats AFM answers as the first time without doing anything twice: reads, cancels, and identical
 * posts of a task or a result. Not a poll (POST /tasks claims), nor POST /api/tasks (it may make ids).
 */
export function repeatable(method, url) {
  if (method === 'GET' || method === 'HEAD' || method === 'DELETE') return true;
  return method === 'POST' && (pathOf(url) === '/task' || pathOf(url) === '/tasks/response');
}

/** A 503 of AFM means "retry later"; only POST /api/tasks, which may make ids, is left to its client. */
const retryOn503 = (method, url) => !(method === 'POST' && pathOf(url) === '/api/tasks');

/** An unstarted HTTP server balancing over `replicas` ({ port }) on `host`. */
export function createBalancer({ host, replicas }) {
  let next = 0;

  function forward(replica, req, body, safe) {
    return new Promise((resolve, reject) => {
      // A request that may not be repeated gets a connection of its own: on a kept-alive one, a reset
      // could not be told from the replica closing it while idle.
      const connection = safe
        ? { agent: undefined, headers: { connection: 'keep-alive' } }
        : { agent: false, headers: { connection: 'close' } };
      const upstream = httpRequest(
        {
          host,
          port: replica.port,
          method: req.method,
          path: req.url,
          agent: connection.agent,
          headers: { ...req.headers, host: `${host}:${replica.port}`, ...connection.headers },
        },
        resolve,
      );
      upstream.on('error', (error) => {
        error.staleConnection = upstream.reusedSocket && error.code === 'ECONNRESET';
        reject(error);
      });
      upstream.end(body);
    });
  }

  const balancer = createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    let lastError;
    const first = next++;
    const safe = repeatable(req.method, req.url);
    const on503 = retryOn503(req.method, req.url);
    for (let attempt = 0; attempt < replicas.length; attempt++) {
      const replica = replicas[(first + attempt) % replicas.length];
      try {
        const upstream = await forward(replica, req, body, safe);
        if (upstream.statusCode === 503 && on503 && attempt < replicas.length - 1) {
          upstream.resume();
          continue;
        }
        res.writeHead(upstream.statusCode ?? 502, upstream.headers);
        upstream.pipe(res);
        return;
      } catch (error) {
        lastError = error;
        const notSent = NOT_SENT.has(error.code) || error.staleConnection;
        if (!notSent && !(safe && MAYBE_SENT.has(error.code))) break;
      }
    }
    res.writeHead(502, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        statusCode: 502,
        code: 'AFM_ERR_UNAVAILABLE',
        error: 'Bad Gateway',
        message: `no replica answered: ${lastError?.message ?? 'all busy'}`,
      }),
    );
  });
  balancer.keepAliveTimeout = 5_000;
  return balancer;
}
