/**
 * Test PKI made with the openssl CLI: a CA and server certificates for 127.0.0.1, ::1 and localhost
 * (EC P-256 keys, so it takes milliseconds), in a temporary folder. Used by the serve tests and the
 * end-to-end suite (the kube-apiserver gets the CA as the webhook's caBundle).
 *
 * `httpsRequest`, `peerCertificate` and `untilClosed` are small clients for tests against `serve`.
 *
 * `SecretVolume` lays the files out the way the kubelet writes a Secret volume (`tls.crt` ->
 * `..data/tls.crt`, `..data` -> `..<timestamp>`) and swaps them atomically the same way, so the
 * certificate reload is tested against what a cluster really does.
 */
import { execFile } from 'node:child_process';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { type Agent, request } from 'node:https';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { X509Certificate, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The openssl binary (override with OPENSSL). */
const OPENSSL = process.env['OPENSSL'] ?? 'openssl';

async function openssl(args: readonly string[], cwd: string): Promise<void> {
  try {
    await run(OPENSSL, args, { cwd, timeout: 30_000 });
  } catch (e) {
    const err = e as Error & { stderr?: string };
    throw new Error(`openssl ${args.join(' ')} failed: ${err.stderr ?? err.message}`, { cause: e });
  }
}

export interface IssuedCertificate {
  readonly certFile: string;
  readonly keyFile: string;
  /** PEM text. */
  readonly cert: string;
  readonly key: string;
  /** Upper-case hex, as `X509Certificate.serialNumber` and `getPeerCertificate().serialNumber` print it. */
  readonly serialNumber: string;
  /** `AA:BB:...`, as `getPeerCertificate().fingerprint256` prints it. */
  readonly fingerprint256: string;
}

export interface TestPki {
  readonly dir: string;
  readonly caFile: string;
  /** The CA certificate, PEM (give it to clients as `ca`). */
  readonly ca: string;
  /** A server certificate for 127.0.0.1, ::1 and localhost, issued when the PKI was made. */
  readonly server: IssuedCertificate;
  /** Issue another server certificate from the same CA (a rotation). */
  issue(name: string, options?: IssueOptions): Promise<IssuedCertificate>;
  /** Remove the folder. */
  remove(): Promise<void>;
}

/** A test PKI with two more server certificates to rotate to, and a scratch folder (the serve tests' set-up). */
export interface RotationPki {
  readonly pki: TestPki;
  readonly second: IssuedCertificate;
  readonly third: IssuedCertificate;
  readonly scratch: string;
  /** Remove the PKI and the scratch folder. */
  remove(): Promise<void>;
}

export async function createRotationPki(scratchPrefix: string): Promise<RotationPki> {
  const pki = await createTestPki();
  const [second, third] = await Promise.all([pki.issue('second'), pki.issue('third')]);
  const scratch = await mkdtemp(join(tmpdir(), scratchPrefix));
  return {
    pki,
    second,
    third,
    scratch,
    remove: async () => {
      await pki.remove();
      await rm(scratch, { recursive: true, force: true });
    },
  };
}

export interface IssueOptions {
  /** Subject alternative names, openssl syntax (default `IP:127.0.0.1,IP:::1,DNS:localhost`). */
  readonly subjectAltName?: string;
  readonly days?: number;
  /** Valid only on 1 January 2020 (expired long ago); `days` is then ignored. */
  readonly expired?: boolean;
  /** Valid only on 1 January 2099 (not valid yet); `days` is then ignored. */
  readonly notYetValid?: boolean;
}

const DEFAULT_SAN = 'IP:127.0.0.1,IP:::1,DNS:localhost';

async function ecKey(file: string, cwd: string): Promise<void> {
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file], cwd);
}

/** Make a CA and one server certificate in a fresh temporary folder. */
export async function createTestPki(prefix = 'image-rewriter-pki-'): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  await ecKey('ca.key', dir);
  await openssl(
    [
      'req', '-x509', '-new', '-key', 'ca.key', '-sha256', '-days', '7',
      '-subj', '/CN=image-rewriter test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      '-out', 'ca.crt',
    ],
    dir,
  );
  const ca = await readFile(join(dir, 'ca.crt'), 'utf8');

  const issue = async (name: string, options: IssueOptions = {}): Promise<IssuedCertificate> => {
    if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new Error(`certificate name ${name}: letters, digits, _ and - only`);
    const keyFile = join(dir, `${name}.key`);
    const certFile = join(dir, `${name}.crt`);
    await ecKey(`${name}.key`, dir);
    await openssl(['req', '-new', '-key', `${name}.key`, '-subj', '/CN=localhost', '-out', `${name}.csr`], dir);
    await writeFile(
      join(dir, `${name}.ext`),
      [
        `subjectAltName=${options.subjectAltName ?? DEFAULT_SAN}`,
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature',
        'extendedKeyUsage=serverAuth',
        '',
      ].join('\n'),
    );
    // A random positive 128-bit serial, so every certificate is told apart by it.
    const bytes = randomBytes(16);
    bytes.writeUInt8((bytes.readUInt8(0) & 0x7f) | 0x10, 0);
    const serial = `0x${bytes.toString('hex')}`;
    const dates = options.expired === true ? ['20200101000000Z', '20200102000000Z'] : options.notYetValid === true ? ['20990101000000Z', '20990102000000Z'] : undefined;
    if (dates !== undefined) {
      // `openssl x509 -req` (3.0) only issues from now on: `openssl ca` takes dates in the past.
      await writeFile(join(dir, `${name}.cnf`), `[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\nserial = ${name}.srl\npolicy = p\n[p]\ncommonName = supplied\n`);
      await writeFile(join(dir, `${name}.srl`), `${serial.slice(2)}\n`);
      await writeFile(join(dir, 'index.txt'), '');
      await openssl(
        [
          'ca', '-batch', '-config', `${name}.cnf`, '-in', `${name}.csr`, '-cert', 'ca.crt', '-keyfile', 'ca.key', '-md', 'sha256', '-notext',
          '-startdate', dates[0] ?? '', '-enddate', dates[1] ?? '', '-extfile', `${name}.ext`, '-out', `${name}.crt`,
        ],
        dir,
      );
    } else {
      await openssl(
        [
          'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', serial,
          '-days', String(options.days ?? 7), '-sha256', '-extfile', `${name}.ext`, '-out', `${name}.crt`,
        ],
        dir,
      );
    }
    const cert = await readFile(certFile, 'utf8');
    const key = await readFile(keyFile, 'utf8');
    const x509 = new X509Certificate(cert);
    return { certFile, keyFile, cert, key, serialNumber: x509.serialNumber, fingerprint256: x509.fingerprint256 };
  };

  const server = await issue('server');
  return {
    dir,
    caFile: join(dir, 'ca.crt'),
    ca,
    server,
    issue,
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/**
 * A folder laid out as the kubelet writes a ConfigMap or Secret volume: each file a symlink into
 * `..data`, itself a symlink to a timestamped folder; the function returned writes a new
 * timestamped folder and renames a new `..data` link over the old one (one atomic step), as the
 * kubelet's AtomicWriter does.
 */
export async function kubeletVolume(dir: string, files: Readonly<Record<string, string>>): Promise<(files: Readonly<Record<string, string>>) => Promise<void>> {
  let generation = 0;
  const write = async (content: Readonly<Record<string, string>>): Promise<void> => {
    generation++;
    const name = `..gen_${generation}`;
    await mkdir(join(dir, name), { recursive: true });
    for (const [file, text] of Object.entries(content)) await writeFile(join(dir, name, file), text);
    const tmp = join(dir, '..data_tmp');
    await symlink(name, tmp);
    await rename(tmp, join(dir, '..data'));
  };
  await write(files);
  for (const file of Object.keys(files)) await symlink(`..data/${file}`, join(dir, file));
  return write;
}

/** A Secret volume (`kubeletVolume`) of a server certificate: `tls.crt` and `tls.key`. */
export class SecretVolume {
  private constructor(
    readonly dir: string,
    private readonly write: (files: Readonly<Record<string, string>>) => Promise<void>,
  ) {}

  get certFile(): string {
    return join(this.dir, 'tls.crt');
  }

  get keyFile(): string {
    return join(this.dir, 'tls.key');
  }

  static async create(parent: string, files: { readonly cert: string; readonly key: string }): Promise<SecretVolume> {
    const dir = await mkdtemp(join(parent, 'secret-'));
    return new SecretVolume(dir, await kubeletVolume(dir, { 'tls.crt': files.cert, 'tls.key': files.key }));
  }

  /** Replace both files at once. */
  async update(files: { readonly cert: string; readonly key: string }): Promise<void> {
    await this.write({ 'tls.crt': files.cert, 'tls.key': files.key });
  }
}

// ---------------------------------------------------------------------------------------------
// Clients, for tests against `serve` (real TLS, the CA above).

export interface HttpsAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export interface HttpsRequestOptions {
  readonly port: number;
  readonly ca: string;
  readonly host?: string;
  readonly method?: string;
  readonly path: string;
  readonly headers?: OutgoingHttpHeaders;
  readonly body?: string | Buffer;
  /** Default false: a new connection, closed after the answer. */
  readonly agent?: Agent | false;
}

/** One HTTPS request; resolves with the whole answer, rejects on a connection error. */
export function httpsRequest(options: HttpsRequestOptions): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: options.host ?? '127.0.0.1',
        port: options.port,
        ca: options.ca,
        method: options.method ?? 'GET',
        path: options.path,
        headers: options.headers,
        agent: options.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A TLS connection to 127.0.0.1:`port` trusting `ca`, once its handshake is done (raw HTTP/1.1 tests). */
export function secureSocket(port: number, ca: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca }, () => {
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** The certificate a new TLS connection to the server presents. */
export function peerCertificate(port: number, ca: string, host = '127.0.0.1'): Promise<{ serialNumber: string; fingerprint256: string }> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host, port, ca, servername: host === '127.0.0.1' ? undefined : host }, () => {
      const cert = socket.getPeerCertificate();
      socket.end();
      resolve({ serialNumber: cert.serialNumber.toUpperCase(), fingerprint256: cert.fingerprint256 });
    });
    socket.on('error', reject);
  });
}

/** Everything a socket receives until it closes, and the error it closed with, if any. */
export function untilClosed(socket: Duplex): Promise<{ readonly data: Buffer; readonly error: Error | undefined }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let error: Error | undefined;
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (e) => {
      error = e;
    });
    socket.on('close', () => {
      resolve({ data: Buffer.concat(chunks), error });
    });
  });
}
