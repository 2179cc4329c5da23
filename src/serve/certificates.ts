/**
 * The server's TLS key pair: load and check it at start, the TLS settings built from it, and its
 * reload when the files change (a pair that does not load is logged and the current one kept).
 */
import { X509Certificate, constants, createHash, createPrivateKey } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import type { SecureVersion, TlsOptions } from 'node:tls';
import { NotRegularFileError, readUpTo } from '../config/bounded-read.js';
import { type FileWatch, watchFiles } from '../config/file-watch.js';
import { describeSystemError } from '../config/system-error.js';
import type { Log } from '../observability/log.js';
import { ServeError } from './options.js';

export const MIN_TLS_VERSION: SecureVersion = 'TLSv1.2';
/**
 * The cipher suites offered: TLS 1.3's, and for TLS 1.2 only ECDHE key exchange with AEAD ciphers
 * (Mozilla's "intermediate" list). Node's default list ends in `HIGH`, which lets a TLS 1.2 client
 * pick static-RSA key exchange (no forward secrecy) or CBC with SHA-1 MACs.
 */
export const TLS_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

const PEM_CERTIFICATE = '-----BEGIN CERTIFICATE-----';

export interface KeyPair {
  readonly cert: Buffer;
  readonly key: Buffer;
}

export interface CertificateFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

interface CertificateInfo {
  readonly subject: string;
  readonly serialNumber: string;
  readonly fingerprint256: string;
  readonly validFrom: string;
  readonly validTo: string;
  readonly expired: boolean;
  /** Its notBefore is still ahead: clients refuse it as they refuse an expired one ("not yet valid"). */
  readonly notYetValid: boolean;
}

type PairCheck = { readonly ok: true; readonly info: CertificateInfo } | { readonly ok: false; readonly reason: string };

/** The TLS settings of the server for a key pair (at start and on every reload). */
export function tlsOptions(pair: KeyPair): TlsOptions {
  return {
    cert: pair.cert,
    key: pair.key,
    minVersion: MIN_TLS_VERSION,
    ciphers: TLS_CIPHERS,
    honorCipherOrder: true,
    // No TLS 1.2 renegotiation: no client of the webhook renegotiates (Go's never does), and each
    // one a client asks for is a full handshake the server pays for on a connection it already holds
    // (Node allows 3 per connection every 10 minutes).
    secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
    // http/1.0 too (registered by RFC 7301; Node's default leaves it out): a client that offers only
    // it (curl --http1.0) got a TLS alert, no_application_protocol, from a server that speaks it.
    ALPNProtocols: ['http/1.1', 'http/1.0'],
  };
}

/** Check that a certificate and key are PEM, belong together and make a TLS context. */
function checkKeyPair(pair: KeyPair, now: number): PairCheck {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(pair.cert);
  } catch (e) {
    // The two files given the other way round (OpenSSL's own words: "no start line").
    if (pair.cert.includes('PRIVATE KEY-----')) return { ok: false, reason: `certificate file holds a private key, not a certificate${pair.key.includes(PEM_CERTIFICATE) ? ', and the private key file a certificate: the two files are swapped' : ''}` };
    return { ok: false, reason: `certificate file does not hold a PEM certificate (${(e as Error).message})` };
  }
  // X509Certificate also reads DER, which the TLS context does not ("no start line" there).
  if (!pair.cert.includes(PEM_CERTIFICATE)) return { ok: false, reason: 'certificate file does not hold a PEM certificate (it holds DER: convert it with openssl x509 -inform der)' };
  let key;
  try {
    key = createPrivateKey(pair.key);
  } catch (e) {
    // OpenSSL's own message for a key it cannot decrypt without a passphrase is "interrupted or cancelled".
    if (pair.key.includes('ENCRYPTED')) return { ok: false, reason: 'the private key is encrypted: serve needs it unencrypted (openssl pkey -in KEY -out PLAIN)' };
    return { ok: false, reason: `private key file does not hold a PEM private key (${(e as Error).message})` };
  }
  if (!x509.checkPrivateKey(key)) return { ok: false, reason: 'the private key does not belong to the certificate' };
  try {
    createSecureContext({ cert: pair.cert, key: pair.key, minVersion: MIN_TLS_VERSION, ciphers: TLS_CIPHERS });
  } catch (e) {
    return { ok: false, reason: `cannot make a TLS context (${(e as Error).message})` };
  }
  return {
    ok: true,
    info: {
      subject: x509.subject.replace(/\n/g, ', '),
      serialNumber: x509.serialNumber,
      fingerprint256: x509.fingerprint256,
      validFrom: x509.validFrom,
      validTo: x509.validTo,
      expired: Date.parse(x509.validTo) < now,
      notYetValid: Date.parse(x509.validFrom) > now,
    },
  };
}

/** A certificate or key file larger than this is refused unread (a chain of PEM certificates is a few KB). */
const MAX_PEM_FILE_BYTES = 1024 * 1024;

/** A file's bytes, or why it cannot be read, naming it (a read error such as EISDIR carries no path of its own). */
async function readNamed(file: string, what: string): Promise<Buffer | { readonly error: string }> {
  try {
    // Regular files only, opened without waiting: serve reads them again at every change and poll,
    // and a named pipe put in their place held the reload in its open for good (no later pair loaded).
    const bytes = await readUpTo(file, MAX_PEM_FILE_BYTES + 1, { regularFile: true });
    return bytes.length > MAX_PEM_FILE_BYTES ? { error: `cannot read ${what} ${file}: larger than ${MAX_PEM_FILE_BYTES} bytes` } : bytes;
  } catch (e) {
    if (e instanceof NotRegularFileError) return { error: `cannot read ${what} ${file}: not a regular file (serve reads it again whenever it may have changed: give it a file, not a pipe or a device)` };
    return { error: `cannot read ${what} ${file}: ${describeSystemError(e)}` };
  }
}

async function readPair(files: CertificateFiles): Promise<KeyPair | { readonly error: string }> {
  const [cert, key] = await Promise.all([readNamed(files.certFile, 'certificate file'), readNamed(files.keyFile, 'private key file')]);
  if ('error' in cert) return cert;
  if ('error' in key) return key;
  return { cert, key };
}

/** Whether every client refuses the certificate now: expired, or not valid yet. */
const unusable = (info: CertificateInfo): boolean => info.expired || info.notYetValid;

const digest = (pair: KeyPair): string => createHash('sha256').update(pair.cert).update('\0').update(pair.key).digest('hex');

/** Read and check the pair at start; a pair that does not load is a `ServeError` saying why. */
export async function loadKeyPair(files: CertificateFiles, log: Log): Promise<KeyPair> {
  const pair = await readPair(files);
  if ('error' in pair) throw new ServeError(pair.error);
  const checked = checkKeyPair(pair, Date.now());
  if (!checked.ok) throw new ServeError(`certificate file ${files.certFile}, private key file ${files.keyFile}: ${checked.reason}`);
  log({ level: unusable(checked.info) ? 'warn' : 'info', msg: 'certificate loaded', ...checked.info });
  return pair;
}

/**
 * Watches the certificate and key files; when their content changes and the new pair loads (and
 * is valid now, or the current one is not either), it is handed to `apply`; when it does not, the
 * reason is logged once and the current pair stays (a pair not valid yet is taken at the first check
 * after its notBefore). `loaded` is told when the certificate
 * served expires: at once for `initial`, then at each pair applied.
 */
export function reloadCertificates(
  initial: KeyPair,
  files: CertificateFiles,
  apply: (pair: KeyPair) => void,
  options: { readonly pollMs: number; readonly log: Log; readonly loaded?: ((validToMs: number) => void) | undefined },
): FileWatch {
  const { log, loaded } = options;
  let current = initial;
  /** When the certificate served becomes valid and expires (epoch ms). */
  const initialX509 = new X509Certificate(initial.cert);
  let currentValidFrom = Date.parse(initialX509.validFrom);
  let currentValidTo = Date.parse(initialX509.validTo);
  let currentX509 = initialX509;
  loaded?.(currentValidTo);
  /**
   * Whether the expiry of the certificate served was said: by the line that loaded it, or once at
   * the first check after its notAfter. Nothing said it while serve ran past it: every client then
   * refused the handshake, and the log had only their failures.
   */
  let expirySaid = currentValidTo < Date.now();
  let lastFailed: string | undefined;
  const failed = (id: string, reason: string): void => {
    if (lastFailed === id) return;
    lastFailed = id;
    log({ level: 'error', msg: 'certificate reload failed; keeping the current certificate', reason });
  };
  const check = async (): Promise<void> => {
    if (!expirySaid && currentValidTo < Date.now()) {
      expirySaid = true;
      log({ level: 'error', msg: 'certificate served has expired; clients refuse it until the files hold a current one', subject: currentX509.subject.replace(/\n/g, ', '), serialNumber: currentX509.serialNumber, validTo: currentX509.validTo });
    }
    const read = await readPair(files);
    if ('error' in read) {
      failed(read.error, read.error);
      return;
    }
    if (read.cert.equals(current.cert) && read.key.equals(current.key)) {
      // The files hold the pair served again (put back, or a refused pair replaced by it): said, so
      // that the ERROR of the failure is not the last line.
      if (lastFailed !== undefined) log({ level: 'info', msg: 'certificate files hold the certificate served again', serialNumber: currentX509.serialNumber });
      lastFailed = undefined;
      return;
    }
    const id = digest(read);
    const now = Date.now();
    const checked = checkKeyPair(read, now);
    if (!checked.ok) {
      failed(id, checked.reason);
      return;
    }
    // Every client would refuse an expired certificate, or one not valid yet (and the API server
    // then admit unrewritten): while the one served is valid, it stays. When neither is, the newer
    // files win.
    if (unusable(checked.info) && currentValidFrom <= now && currentValidTo >= now) {
      failed(id, checked.info.expired ? `the new certificate expired on ${checked.info.validTo}` : `the new certificate is not valid before ${checked.info.validFrom} (the clock of whatever made it is ahead, or it was issued for later)`);
      return;
    }
    try {
      apply(read);
    } catch (e) {
      failed(id, (e as Error).message);
      return;
    }
    current = read;
    currentValidFrom = Date.parse(checked.info.validFrom);
    currentValidTo = Date.parse(checked.info.validTo);
    currentX509 = new X509Certificate(read.cert);
    expirySaid = checked.info.expired;
    lastFailed = undefined;
    loaded?.(currentValidTo);
    log({ level: unusable(checked.info) ? 'warn' : 'info', msg: 'certificate reloaded', ...checked.info });
  };
  return watchFiles([files.certFile, files.keyFile], check, { ...options, what: 'certificate' });
}
