/**
 * Test PKI made with the openssl CLI: a CA and server certificates for 127.0.0.1, ::1 and localhost
 * (EC P-256 keys, so it takes milliseconds), in a temporary folder. Used by the serve tests and the
 * end-to-end suite (the kube-apiserver gets the CA as the webhook's caBundle).
 *
 * `SecretVolume` lays the files out the way the kubelet writes a Secret volume (`tls.crt` ->
 * `..data/tls.crt`, `..data` -> `..<timestamp>`) and swaps them atomically the same way, so the
 * certificate reload is tested against what a cluster really does.
 */
import { execFile } from 'node:child_process';
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

export interface IssueOptions {
  /** Subject alternative names, openssl syntax (default `IP:127.0.0.1,IP:::1,DNS:localhost`). */
  readonly subjectAltName?: string;
  readonly days?: number;
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
    await openssl(
      [
        'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', serial,
        '-days', String(options.days ?? 7), '-sha256', '-extfile', `${name}.ext`, '-out', `${name}.crt`,
      ],
      dir,
    );
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
 * A folder laid out like a Kubernetes Secret volume: `tls.crt` and `tls.key` are symlinks into
 * `..data`, itself a symlink to a timestamped folder; `update` writes a new timestamped folder and
 * renames a new `..data` link over the old one (one atomic step), as the kubelet's AtomicWriter does.
 */
export class SecretVolume {
  private generation = 0;

  private constructor(readonly dir: string) {}

  get certFile(): string {
    return join(this.dir, 'tls.crt');
  }

  get keyFile(): string {
    return join(this.dir, 'tls.key');
  }

  static async create(parent: string, files: { readonly cert: string; readonly key: string }): Promise<SecretVolume> {
    const dir = await mkdtemp(join(parent, 'secret-'));
    const volume = new SecretVolume(dir);
    await volume.writeGeneration(files);
    await symlink('..data/tls.crt', join(dir, 'tls.crt'));
    await symlink('..data/tls.key', join(dir, 'tls.key'));
    return volume;
  }

  /** Replace both files at once. */
  async update(files: { readonly cert: string; readonly key: string }): Promise<void> {
    await this.writeGeneration(files);
  }

  private async writeGeneration(files: { readonly cert: string; readonly key: string }): Promise<void> {
    this.generation++;
    const name = `..gen_${this.generation}`;
    await mkdir(join(this.dir, name));
    await writeFile(join(this.dir, name, 'tls.crt'), files.cert);
    await writeFile(join(this.dir, name, 'tls.key'), files.key);
    const tmp = join(this.dir, '..data_tmp');
    await symlink(name, tmp);
    await rename(tmp, join(this.dir, '..data'));
  }
}
