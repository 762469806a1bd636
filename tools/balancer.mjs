// The load balancer of tools/topology.mjs: round robin over AFM replicas. A request that never reached
// a replica (connection refused or reset while connecting, or a kept-alive connection the replica had
// closed while idle) goes to the next one, and so does one answered 503 (AFM's "retry later"; nginx, which cannot tell AFM's 503
// from others, retries only repeatable requests after one). After a connection reset mid-request a
// request is retried only where a repeat is safe (`repeatable`): never a poll, which may have claimed
// tasks before it was cut.
import { createServer, request as httpRequest } from 'node:http';

/** The request may have reached the replica: retried only where a repeat is safe. */
const MAYBE_SENT = new Set(['ECONNRESET', 'EPIPE']);

/**
 * True when `error` (of a request to a replica) proves that no byte of the request was sent: the
 * connection was refused, or failed while connecting — a replica that stops listening resets the
 * connections still waiting to be accepted ("connect ECONNRESET") — or a kept-alive connection had been
 * closed by the replica while idle.
 */
export function neverSent(error, reusedSocket = false) {
  if (error.code === 'ECONNREFUSED' || error.syscall === 'connect') return true;
  return reusedSocket && error.code === 'ECONNRESET';
}

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

/**
 * An unstarted HTTP server balancing over `replicas` ({ port }) on `host`. `withdraw(port)` takes a
 * replica out of rotation, as a Kubernetes Service does before its pod gets SIGTERM: requests already
 * sent to it go on; it resolves once no connection to it is still being opened, so that the replica
 * can stop listening without resetting a connection on its way in.
 */
export function createBalancer({ host, replicas }) {
  let next = 0;
  const withdrawn = new Set();
  /** Per port: connections being opened, and what waits for there to be none. */
  const connecting = new Map();
  const settled = new Map();
  const connectingTo = (port, delta) => {
    const count = (connecting.get(port) ?? 0) + delta;
    connecting.set(port, count);
    if (count === 0) for (const resolve of settled.get(port)?.splice(0) ?? []) resolve();
  };

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
      upstream.on('socket', (socket) => {
        if (!socket.connecting) return;
        connectingTo(replica.port, 1);
        const done = () => {
          socket.off('connect', done).off('close', done);
          connectingTo(replica.port, -1);
        };
        socket.on('connect', done).on('close', done);
      });
      upstream.on('error', (error) => {
        error.neverSent = neverSent(error, upstream.reusedSocket);
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
    const rotation = replicas.filter((replica) => !withdrawn.has(replica.port));
    const first = next++;
    const safe = repeatable(req.method, req.url);
    const on503 = retryOn503(req.method, req.url);
    for (let attempt = 0; attempt < rotation.length; attempt++) {
      const replica = rotation[(first + attempt) % rotation.length];
      try {
        const upstream = await forward(replica, req, body, safe);
        if (upstream.statusCode === 503 && on503 && attempt < rotation.length - 1) {
          upstream.resume();
          continue;
        }
        res.writeHead(upstream.statusCode ?? 502, upstream.headers);
        upstream.pipe(res);
        return;
      } catch (error) {
        lastError = error;
        if (!error.neverSent && !(safe && MAYBE_SENT.has(error.code))) break;
      }
    }
    res.writeHead(502, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        statusCode: 502,
        code: 'AFM_ERR_UNAVAILABLE',
        error: 'Bad Gateway',
        message: `no replica answered: ${lastError?.message ?? 'none in rotation'}`,
      }),
    );
  });
  balancer.keepAliveTimeout = 5_000;
  balancer.withdraw = (port) => {
    withdrawn.add(port);
    if (!connecting.get(port)) return Promise.resolve();
    return new Promise((resolve) => settled.set(port, [...(settled.get(port) ?? []), resolve]));
  };
  return balancer;
}
