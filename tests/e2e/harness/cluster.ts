/**
 * A real control plane on 127.0.0.1, with the flags hack/k8s/smoke.sh proved: etcd, then
 * kube-apiserver (RBAC, bearer-token authentication, ServiceAccount admission on,
 * `--advertise-address=127.0.0.1` with `--endpoint-reconciler-type=none`), then
 * kube-controller-manager with the controllers that turn a Deployment into a ReplicaSet and Pods
 * and give each namespace its default ServiceAccount. No scheduler and no kubelet: Pods stay
 * Pending, which is all an admission webhook needs.
 *
 * Teardown is the reverse order (see environment.ts): kube-apiserver must stop while etcd is still
 * up, or it hangs on shutdown.
 */
import { generateKeyPair, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Kubectl } from './kubectl.js';
import { type ManagedProcess, startProcess } from './processes.js';
import type { K8sBin } from './tools.js';
import { done, eventually, notYet } from './wait.js';

export interface ClusterPorts {
  readonly etcd: number;
  readonly etcdPeer: number;
  readonly apiserver: number;
  readonly controllerManager: number;
}

export interface ClusterFiles {
  readonly kubeconfig: string;
  /** The API server's self-signed serving certificate (the kubeconfig's CA). */
  readonly apiserverCert: string;
  readonly logs: { readonly etcd: string; readonly apiserver: string; readonly controllerManager: string };
}

export interface Cluster {
  readonly ports: ClusterPorts;
  readonly files: ClusterFiles;
  readonly kubectl: Kubectl;
  readonly processes: { readonly etcd: ManagedProcess; readonly apiserver: ManagedProcess; readonly controllerManager: ManagedProcess };
  /** Seconds from spawn to healthy, per component. */
  readonly timings: { readonly etcdMs: number; readonly apiserverMs: number; readonly controllerManagerMs: number };
}

/** `count` distinct free loopback ports, all held open until every one is picked (as smoke.sh does). */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
      });
    }
    return servers.map((s) => {
      const address = s.address();
      if (address === null || typeof address === 'string') throw new Error('no port');
      return address.port;
    });
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

/** GET an https URL without checking its certificate (kube-controller-manager's self-signed /healthz); the status, or the error. */
function insecureGet(url: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request(url, { rejectUnauthorized: false, timeout: 5000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => {
      resolve(e.message);
    });
    req.end();
  });
}

export interface ClusterOptions {
  readonly runDir: string;
  readonly bin: K8sBin;
  /** Progress lines for a person. */
  readonly log: (line: string) => void;
}

/** Start etcd, kube-apiserver and kube-controller-manager; resolves once all three are healthy. */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const { runDir, bin, log } = options;
  const [etcdPort, peerPort, apiPort, kcmPort] = await freePorts(4);
  if (etcdPort === undefined || peerPort === undefined || apiPort === undefined || kcmPort === undefined) throw new Error('no free ports');
  const ports: ClusterPorts = { etcd: etcdPort, etcdPeer: peerPort, apiserver: apiPort, controllerManager: kcmPort };
  const logs = { etcd: join(runDir, 'logs', 'etcd.log'), apiserver: join(runDir, 'logs', 'kube-apiserver.log'), controllerManager: join(runDir, 'logs', 'kube-controller-manager.log') };
  const pki = join(runDir, 'pki');
  const files: ClusterFiles = { kubeconfig: join(runDir, 'kubeconfig'), apiserverCert: join(pki, 'apiserver.crt'), logs };

  // Credentials: a service-account signing key, one system:masters bearer token, a kubeconfig.
  const { privateKey, publicKey } = await promisify(generateKeyPair)('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const saKey = join(runDir, 'sa.key');
  const saPub = join(runDir, 'sa.pub');
  await writeFile(saKey, privateKey, { mode: 0o600 });
  await writeFile(saPub, publicKey);
  const token = randomBytes(24).toString('hex');
  const tokens = join(runDir, 'tokens.csv');
  await writeFile(tokens, `${token},e2e-admin,e2e-admin,"system:masters"\n`, { mode: 0o600 });
  await writeFile(
    files.kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: image-rewriter-e2e',
      '  cluster:',
      `    server: https://127.0.0.1:${apiPort}`,
      `    certificate-authority: ${files.apiserverCert}`,
      'users:',
      '- name: e2e-admin',
      '  user:',
      `    token: ${token}`,
      'contexts:',
      '- name: image-rewriter-e2e',
      '  context: {cluster: image-rewriter-e2e, user: e2e-admin}',
      'current-context: image-rewriter-e2e',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const kubectl = new Kubectl(bin.kubectl, files.kubeconfig);
  // The control plane gets a minimal environment: no proxy settings, no user KUBECONFIG.
  const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/tmp' };
  const common = { runDir, cwd: runDir, env };

  const etcd = await startProcess({
    ...common,
    name: 'etcd',
    command: bin.etcd,
    log: logs.etcd,
    args: [
      '--name=e2e',
      `--data-dir=${join(runDir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
      `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-cluster=e2e=http://127.0.0.1:${peerPort}`,
      '--unsafe-no-fsync',
      '--log-level=warn',
    ],
  });
  const diedOr = (p: ManagedProcess) => (): string | undefined => {
    const exit = p.exited();
    return exit === undefined ? undefined : `${p.name} exited (${exit}):\n${p.tail(25)}`;
  };
  await eventually('etcd /health', { timeoutMs: 60_000, abortIf: diedOr(etcd) }, async () => {
    const res = await fetch(`http://127.0.0.1:${etcdPort}/health`).catch((e: unknown) => (e instanceof Error ? e.message : String(e)));
    return typeof res !== 'string' && res.ok ? done(undefined) : notYet(typeof res === 'string' ? res : `status ${res.status}`);
  });
  const etcdMs = performance.now() - etcd.spawnedAt;
  log(`etcd healthy in ${(etcdMs / 1000).toFixed(1)} s (127.0.0.1:${etcdPort})`);

  const apiserver = await startProcess({
    ...common,
    name: 'kube-apiserver',
    command: bin['kube-apiserver'],
    log: logs.apiserver,
    args: [
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      // With a loopback advertise address the default reconciler fails; nothing needs the endpoints.
      '--endpoint-reconciler-type=none',
      `--cert-dir=${pki}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      `--service-account-issuer=https://127.0.0.1:${apiPort}`,
      `--service-account-key-file=${saPub}`,
      `--service-account-signing-key-file=${saKey}`,
      '--authorization-mode=RBAC',
      `--token-auth-file=${tokens}`,
    ],
  });
  await eventually('kube-apiserver /readyz', { timeoutMs: 180_000, intervalMs: 250, abortIf: diedOr(apiserver) }, async () => {
    const r = await kubectl.run(['get', '--raw', '/readyz'], { timeoutMs: 30_000 });
    return r.code === 0 ? done(undefined) : notYet(r.stderr.trim().split('\n').at(-1) ?? `exit ${r.code}`);
  });
  const apiserverMs = performance.now() - apiserver.spawnedAt;
  log(`kube-apiserver ready in ${(apiserverMs / 1000).toFixed(1)} s (https://127.0.0.1:${apiPort})`);

  const controllerManager = await startProcess({
    ...common,
    name: 'kube-controller-manager',
    command: bin['kube-controller-manager'],
    log: logs.controllerManager,
    args: [
      `--kubeconfig=${files.kubeconfig}`,
      '--leader-elect=false',
      '--controllers=deployment-controller,replicaset-controller,serviceaccount-controller,namespace-controller,garbage-collector-controller',
      '--bind-address=127.0.0.1',
      `--secure-port=${kcmPort}`,
      `--service-account-private-key-file=${saKey}`,
      `--root-ca-file=${files.apiserverCert}`,
    ],
  });
  await eventually('kube-controller-manager /healthz', { timeoutMs: 120_000, intervalMs: 250, abortIf: diedOr(controllerManager) }, async () => {
    const status = await insecureGet(`https://127.0.0.1:${kcmPort}/healthz`);
    return status === 200 ? done(undefined) : notYet(String(status));
  });
  const controllerManagerMs = performance.now() - controllerManager.spawnedAt;
  log(`kube-controller-manager healthy in ${(controllerManagerMs / 1000).toFixed(1)} s`);

  return { ports, files, kubectl, processes: { etcd, apiserver, controllerManager }, timings: { etcdMs, apiserverMs, controllerManagerMs } };
}
