// SIGTERM to `serve` under load: `node bench/serve-sigterm.mjs [RUNS]` (after `npm run build`).
// Each run starts dist/cli.js serve on 127.0.0.1 with a throwaway certificate (openssl CLI), has
// autocannon keep 16 connections posting the sample AdmissionReview for 4 s, sends SIGTERM after
// 2 s, and counts the answers and the errors by code. After SIGTERM every answer must be a 200 and
// the only errors ECONNREFUSED (new connections after the listener closed): no ECONNRESET.
// docs/reliability.md has the figures.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';

const dir = mkdtempSync(join(tmpdir(), 'serve-sigterm-'));
const TOKEN = 'sigterm-token-0123456789abcdef0123';
const file = (name, text) => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};
execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
const token = file('token', TOKEN);
const rules = file('rules.yaml', 'rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n');
const review = JSON.parse(readFileSync(new URL('../events/rest-pod-v1.json', import.meta.url), 'utf8')).body;
const runs = Number(process.argv[2] ?? 5);
const total = { sent: 0, ok: 0, non2xx: 0, refused: 0, resets: 0, otherErrors: 0, nonZeroExits: 0 };
try {
  for (let run = 0; run < runs; run++) {
    const port = 18443 + run;
    const child = spawn(process.execPath, [new URL('../dist/cli.js', import.meta.url).pathname, 'serve', '--config', rules, '--listen', `127.0.0.1:${port}`, '--tls-cert-file', join(dir, 'cert.pem'), '--tls-private-key-file', join(dir, 'key.pem'), '--token-file', token], { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const errors = {};
    const inst = autocannon({ url: `https://127.0.0.1:${port}/mutate/${TOKEN}`, method: 'POST', body: review, headers: { 'content-type': 'application/json' }, connections: 16, duration: 4, tlsOptions: { rejectUnauthorized: false } });
    inst.on('reqError', (e) => {
      errors[e.code ?? e.message] = (errors[e.code ?? e.message] ?? 0) + 1;
    });
    setTimeout(() => child.kill('SIGTERM'), 2000);
    const res = await new Promise((resolve) => inst.on('done', resolve));
    const exit = await exited;
    const refused = errors['ECONNREFUSED'] ?? 0;
    const resets = errors['ECONNRESET'] ?? 0;
    console.log(JSON.stringify({ run, sent: res.requests.sent, ok: res['2xx'], non2xx: res.non2xx, errors: errors, exit }));
    total.sent += res.requests.sent;
    total.ok += res['2xx'];
    total.non2xx += res.non2xx;
    total.refused += refused;
    total.resets += resets;
    total.otherErrors += res.errors - refused - resets;
    if (exit !== 0) total.nonZeroExits++;
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log('total', JSON.stringify(total));
process.exitCode = total.resets === 0 && total.non2xx === 0 && total.otherErrors === 0 && total.nonZeroExits === 0 ? 0 : 1;
