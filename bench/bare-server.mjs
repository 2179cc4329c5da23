// The physical limit for the HTTPS section of the benchmark: a bare node:https server with the same
// certificate and TLS settings as `serve` (TLS 1.2+, ALPN http/1.1: serve also offers http/1.0
// after it, which no client here asks for; no Nagle, keep-alive) that reads each request body and
// answers one fixed AdmissionReview. No routing, no logs, no handler.
//   node bench/bare-server.mjs CERT_FILE KEY_FILE ANSWER_FILE [CIPHER [WORKERS]]
// CIPHER (the suite `serve` negotiates; empty for node's default list) is preferred over node's
// default list, so both servers do the same cryptography. WORKERS above 1 serves the one port from
// that many node:cluster workers, as `serve --workers N` does (the primary hands out connections
// round-robin), for a like-for-like comparison of CPU per request.
// Prints {"msg":"listening","port":N} on stdout once it listens on 127.0.0.1; SIGTERM stops it.
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { DEFAULT_CIPHERS } from 'node:tls';

const [certFile, keyFile, answerFile, cipher = '', workersText = '1'] = process.argv.slice(2);
const workers = Number(workersText);

if (workers > 1 && cluster.isPrimary) {
  const forked = Array.from({ length: workers }, () => cluster.fork());
  const ports = await Promise.all(forked.map((w) => new Promise((resolve) => w.once('message', (m) => resolve(m.port)))));
  process.stdout.write(`${JSON.stringify({ msg: 'listening', port: ports[0] })}\n`);
  process.once('SIGTERM', () => {
    for (const w of forked) w.kill('SIGTERM');
  });
} else {
  // Text, written behind the head in one string as `serve` writes a handler's body (cheaper than a Buffer).
  const answer = readFileSync(answerFile, 'utf8');
  const answerBytes = Buffer.byteLength(answer);
  const server = createServer(
    {
      cert: readFileSync(certFile),
      key: readFileSync(keyFile),
      minVersion: 'TLSv1.2',
      ALPNProtocols: ['http/1.1'],
      keepAliveTimeout: 15_000,
      noDelay: true,
      ...(cipher === '' ? {} : { ciphers: `${cipher}:${DEFAULT_CIPHERS}`, honorCipherOrder: true }),
    },
    (req, res) => {
      req.on('data', () => undefined);
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': answerBytes });
        res.end(answer);
      });
    },
  );
  server.listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    if (cluster.isWorker) process.send({ port });
    else process.stdout.write(`${JSON.stringify({ msg: 'listening', port })}\n`);
  });
  process.once('SIGTERM', () => {
    server.close();
    server.closeAllConnections();
    if (cluster.isWorker) cluster.worker.disconnect();
  });
}
