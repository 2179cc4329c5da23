// The physical limit for the HTTPS section of the benchmark: a bare node:https server with the same
// certificate and TLS settings as `serve` (TLS 1.2+, ALPN http/1.1, no Nagle, keep-alive) that reads
// each request body and answers one fixed AdmissionReview. No routing, no logs, no handler.
//   node bench/bare-server.mjs CERT_FILE KEY_FILE ANSWER_FILE [CIPHER]
// CIPHER (the suite `serve` negotiates) is preferred over node's default list, so both servers do
// the same cryptography.
// Prints {"msg":"listening","port":N} on stdout once it listens on 127.0.0.1; SIGTERM stops it.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { DEFAULT_CIPHERS } from 'node:tls';

const [certFile, keyFile, answerFile, cipher] = process.argv.slice(2);
const answer = readFileSync(answerFile);
const server = createServer(
  {
    cert: readFileSync(certFile),
    key: readFileSync(keyFile),
    minVersion: 'TLSv1.2',
    ALPNProtocols: ['http/1.1'],
    keepAliveTimeout: 15_000,
    noDelay: true,
    ...(cipher === undefined ? {} : { ciphers: `${cipher}:${DEFAULT_CIPHERS}`, honorCipherOrder: true }),
  },
  (req, res) => {
    req.on('data', () => undefined);
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': answer.length });
      res.end(answer);
    });
  },
);
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ msg: 'listening', port: server.address().port })}\n`);
});
process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
});
