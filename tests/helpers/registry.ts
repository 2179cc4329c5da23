/**
 * A real OCI registry for the tests: the CNCF Distribution registry (hack/registry/build.sh,
 * found through IMAGE_REWRITER_REGISTRY) on 127.0.0.1 with TLS from the test CA, and one of three
 * kinds of authentication:
 * - `none`: anonymous pulls and pushes;
 * - `htpasswd`: basic auth (bcrypt entries made with bcryptjs);
 * - `token`: the distribution token flow, with a tiny token server here that checks basic
 *   credentials (or lets anonymous clients pull, when `anonymousPull`) and signs ES256 JWTs that
 *   the registry verifies with the key set it was given (`auth.token.jwks`).
 * Images are pushed with plain distribution API calls: blobs (POST then PUT), then the manifest;
 * `pushIndex` pushes an image per platform and an OCI image index over them (a platform may give
 * a Windows build, `windows(10.0.20348.2700)/amd64`, written as the entries' os.version); with `deletes`,
 * `deleteImage` removes a pushed manifest and its tags (a tag deleted from a mirror).
 */
import { createHash, createPublicKey, generateKeyPairSync, randomBytes, randomUUID, sign, type KeyObject } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import bcrypt from 'bcryptjs';
import { freePort, type Group, spawnGroup } from '../integration/helpers/processes.js';
import { httpsRequest, type HttpsAnswer, type TestPki } from './tls.js';

export type RegistryAuth = 'none' | 'htpasswd' | 'token';

export interface RegistryOptions {
  readonly pki: TestPki;
  readonly auth: RegistryAuth;
  /** Users for `htpasswd` and `token` (default `{ pusher: 'push-secret' }`). */
  readonly users?: Readonly<Record<string, string>>;
  /** `token` only: anonymous clients get pull tokens (a public registry). Default false. */
  readonly anonymousPull?: boolean;
  /** Allow deleting manifests (`storage.delete.enabled`), for `deleteImage`. Default false. */
  readonly deletes?: boolean;
}

export interface PushedImage {
  /** `127.0.0.1:<port>/<repository>:<tag>` */
  readonly reference: string;
  readonly digest: string;
}

export interface TestRegistry {
  /** `127.0.0.1:<port>`: the registry part of image references. */
  readonly host: string;
  readonly port: number;
  readonly users: Readonly<Record<string, string>>;
  /** Push a one-layer image for `platform` (`linux/amd64`) as `repository:tag`. */
  pushImage(repository: string, tag: string, platform?: string): Promise<PushedImage>;
  /** Push one image per platform and an OCI index over them as `repository:tag`. */
  pushIndex(repository: string, tag: string, platforms: readonly string[]): Promise<PushedImage>;
  /** Delete a pushed manifest by digest, and with it every tag on it (`deletes` only). */
  deleteImage(repository: string, digest: string): Promise<void>;
  /** Token requests served so far (`token` only). */
  tokenRequests(): number;
  output(): string;
  stop(): Promise<void>;
}

const DEFAULT_USERS = { pusher: 'push-secret' } as const;
const SERVICE = 'image-rewriter-test-registry';
const ISSUER = 'image-rewriter-test-issuer';

/**
 * The platform fields of an image config or an index entry for `os[(osversion)]/arch[/variant]`
 * (containerd's FormatAll form: `windows(10.0.20348.2700)/amd64` gives a Windows build's os.version).
 */
function platformFields(platform: string): Record<string, string> {
  const [osPart = 'linux', architecture = 'amd64', variant] = platform.split('/');
  const [, os = osPart, version] = /^([^(]+)\((.+)\)$/.exec(osPart) ?? [];
  return { os, architecture, ...(variant === undefined ? {} : { variant }), ...(version === undefined ? {} : { 'os.version': version }) };
}

/** The registry binary (hack/registry/build.sh). */
export function registryBinary(): string {
  const bin = process.env['IMAGE_REWRITER_REGISTRY'];
  if (bin === undefined || bin === '') {
    throw new Error('IMAGE_REWRITER_REGISTRY is not set: run the tests with scripts/test-integration.sh, or export IMAGE_REWRITER_REGISTRY=$(hack/registry/build.sh | tail -n1)');
  }
  return bin;
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

/** The token server: basic credentials in, ES256 JWTs the registry trusts out. */
class TokenServer {
  readonly key: KeyObject;
  readonly kid = 'image-rewriter-test-key';
  requests = 0;
  private server: Server | undefined;

  constructor(
    private readonly users: Readonly<Record<string, string>>,
    private readonly anonymousPull: boolean,
  ) {
    this.key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  }

  jwks(): string {
    const { kty, crv, x, y } = createPublicKey(this.key).export({ format: 'jwk' });
    return JSON.stringify({ keys: [{ kty, crv, x, y, kid: this.kid, alg: 'ES256', use: 'sig' }] });
  }

  token(subject: string, scopes: readonly string[], push: boolean): string {
    const now = Math.floor(Date.now() / 1000);
    const access = scopes.flatMap((s) => {
      const [type, name, actions] = s.split(':');
      if (type !== 'repository' || name === undefined || actions === undefined) return [];
      const wanted = actions.split(',').filter((a) => a === 'pull' || (push && a === 'push'));
      return [{ type, name, actions: wanted }];
    });
    const header = b64url(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid: this.kid }));
    const claims = b64url(JSON.stringify({ iss: ISSUER, sub: subject, aud: SERVICE, exp: now + 300, nbf: now - 10, iat: now, jti: randomUUID(), access }));
    const signature = sign('sha256', Buffer.from(`${header}.${claims}`), { key: this.key, dsaEncoding: 'ieee-p1363' });
    return `${header}.${claims}.${b64url(signature)}`;
  }

  async start(pki: TestPki): Promise<number> {
    const port = await freePort();
    this.server = createServer({ cert: pki.server.cert, key: pki.server.key }, (req, res) => {
      this.requests++;
      const url = new URL(req.url ?? '/', 'https://127.0.0.1');
      const scopes = url.searchParams.getAll('scope');
      const auth = req.headers.authorization ?? '';
      let subject: string | undefined;
      if (auth.startsWith('Basic ')) {
        const [user = '', ...rest] = Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':');
        if (this.users[user] !== rest.join(':')) {
          res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"wrong credentials"}');
          return;
        }
        subject = user;
      } else if (!this.anonymousPull) {
        res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="token"' }).end('{"details":"credentials required"}');
        return;
      }
      const token = this.token(subject ?? 'anonymous', scopes, subject !== undefined);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, access_token: token, expires_in: 300 }));
    });
    const server = this.server;
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    return port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
    });
  }
}

export async function startRegistry(options: RegistryOptions): Promise<TestRegistry> {
  const users = options.users ?? DEFAULT_USERS;
  const dir = await mkdtemp(join(tmpdir(), 'image-rewriter-registry-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  let tokens: TokenServer | undefined;
  let auth = '';
  if (options.auth === 'htpasswd') {
    const lines = Object.entries(users).map(([u, p]) => `${u}:${bcrypt.hashSync(p, 4)}`);
    await writeFile(join(dir, 'htpasswd'), `${lines.join('\n')}\n`);
    auth = `auth:\n  htpasswd:\n    realm: image-rewriter-test\n    path: ${join(dir, 'htpasswd')}\n`;
  } else if (options.auth === 'token') {
    tokens = new TokenServer(users, options.anonymousPull ?? false);
    const tokenPort = await tokens.start(options.pki);
    await writeFile(join(dir, 'jwks.json'), tokens.jwks());
    auth = `auth:\n  token:\n    realm: https://127.0.0.1:${tokenPort}/token\n    service: ${SERVICE}\n    issuer: ${ISSUER}\n    jwks: ${join(dir, 'jwks.json')}\n    signingalgorithms: [ES256]\n`;
  }
  const config = `version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: ${join(dir, 'data')}
  maintenance:
    uploadpurging:
      enabled: false
  delete:
    enabled: ${options.deletes === true}
http:
  addr: ${host}
  secret: ${randomBytes(16).toString('hex')}
  tls:
    certificate: ${options.pki.server.certFile}
    key: ${options.pki.server.keyFile}
${auth}`;
  await writeFile(join(dir, 'config.yml'), config);
  const group: Group = spawnGroup('registry', registryBinary(), ['serve', join(dir, 'config.yml')], {
    cwd: dir,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dir, OTEL_TRACES_EXPORTER: 'none', OTEL_SDK_DISABLED: 'true' },
  });
  const ca = options.pki.ca;
  const call = (method: string, path: string, headers: Record<string, string> = {}, body?: Buffer | string): Promise<HttpsAnswer> =>
    httpsRequest({ port, ca, method, path, headers, ...(body === undefined ? {} : { body }) });

  // Ready when /v2/ answers (200, or 401 with auth).
  for (let i = 0; ; i++) {
    const gone = group.exited();
    if (gone !== undefined) throw new Error(`the registry exited (${gone}):\n${group.output().slice(-4000)}`);
    try {
      const res = await call('GET', '/v2/');
      if (res.status === 200 || res.status === 401) break;
    } catch {
      // not listening yet
    }
    if (i > 300) throw new Error(`the registry did not answer within 30 s:\n${group.output().slice(-4000)}`);
    await sleep(100);
  }

  const [pushUser = '', pushPassword = ''] = Object.entries(users)[0] ?? [];
  const basicAuth = `Basic ${Buffer.from(`${pushUser}:${pushPassword}`).toString('base64')}`;
  const authFor = (repository: string): Record<string, string> => {
    if (options.auth === 'htpasswd') return { authorization: basicAuth };
    if (options.auth === 'token' && tokens !== undefined) return { authorization: `Bearer ${tokens.token(pushUser, [`repository:${repository}:pull,push`], true)}` };
    return {};
  };
  const expect = (res: HttpsAnswer, status: number, what: string): HttpsAnswer => {
    if (res.status !== status) throw new Error(`${what}: expected ${status}, got ${res.status}: ${res.body.slice(0, 500)}`);
    return res;
  };

  const pushBlob = async (repository: string, content: Buffer): Promise<string> => {
    const digest = `sha256:${createHash('sha256').update(content).digest('hex')}`;
    const start = expect(await call('POST', `/v2/${repository}/blobs/uploads/`, authFor(repository)), 202, `start upload to ${repository}`);
    const location = new URL(String(start.headers.location), `https://${host}`);
    location.searchParams.set('digest', digest);
    const headers = { ...authFor(repository), 'content-type': 'application/octet-stream', 'content-length': String(content.length) };
    expect(await call('PUT', `${location.pathname}${location.search}`, headers, content), 201, `upload blob to ${repository}`);
    return digest;
  };

  const putManifest = async (repository: string, ref: string, mediaType: string, manifest: object): Promise<string> => {
    const body = Buffer.from(JSON.stringify(manifest));
    expect(await call('PUT', `/v2/${repository}/manifests/${ref}`, { ...authFor(repository), 'content-type': mediaType }, body), 201, `push manifest ${repository}:${ref}`);
    return `sha256:${createHash('sha256').update(body).digest('hex')}`;
  };

  const imageManifest = async (repository: string, platform: string): Promise<{ manifest: object; size: number; digest: string }> => {
    const config = Buffer.from(JSON.stringify({ ...platformFields(platform), rootfs: { type: 'layers', diff_ids: [] }, config: {} }));
    const layer = randomBytes(64);
    const [configDigest, layerDigest] = [await pushBlob(repository, config), await pushBlob(repository, layer)];
    const manifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layer.length }],
    };
    const body = Buffer.from(JSON.stringify(manifest));
    return { manifest, size: body.length, digest: `sha256:${createHash('sha256').update(body).digest('hex')}` };
  };

  return {
    host,
    port,
    users,
    async pushImage(repository, tag, platform = 'linux/amd64') {
      const { manifest } = await imageManifest(repository, platform);
      const digest = await putManifest(repository, tag, 'application/vnd.oci.image.manifest.v1+json', manifest);
      return { reference: `${host}/${repository}:${tag}`, digest };
    },
    async pushIndex(repository, tag, platforms) {
      const manifests = [];
      for (const p of platforms) {
        const { manifest, size, digest } = await imageManifest(repository, p);
        await putManifest(repository, digest, 'application/vnd.oci.image.manifest.v1+json', manifest);
        manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size, platform: platformFields(p) });
      }
      const index = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests };
      const digest = await putManifest(repository, tag, 'application/vnd.oci.image.index.v1+json', index);
      return { reference: `${host}/${repository}:${tag}`, digest };
    },
    async deleteImage(repository, digest) {
      expect(await call('DELETE', `/v2/${repository}/manifests/${digest}`, authFor(repository)), 202, `delete manifest ${repository}@${digest}`);
    },
    tokenRequests: () => tokens?.requests ?? 0,
    output: () => group.output(),
    async stop() {
      await group.stop();
      await tokens?.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
