/**
 * The CAs an existence check trusts: Node's defaults (its bundled Mozilla list and
 * NODE_EXTRA_CA_CERTS) and the operating system's store, as the kubelet and containerd do when they
 * pull: a mirror behind a private CA that was added to the image's store (`update-ca-certificates`,
 * a corporate base image) is then trusted without a setting of ours.
 *
 * Node trusts only its defaults unless started with `--use-system-ca`; `tls.getCACertificates`
 * (Node.js 22.15 and 23.5 on; the Lambda runtime and the container image run 24) reads the store,
 * honouring SSL_CERT_FILE and SSL_CERT_DIR on Linux. On an older Node the store is not read and the
 * defaults alone are trusted (docs/verify.md says so). Reading the store and making a context with a
 * few hundred CAs are slow (docs/performance.md, "Figures behind the comments"), so it is done
 * once per process, at the first check; when the store adds nothing to the defaults (the usual
 * case: a distribution's store is Mozilla's list too) no context of ours is made and Node's shared
 * one is used.
 */
import type { SecureContext } from 'node:tls';

type Tls = typeof import('node:tls');

/** `tls.getCACertificates`, where this Node has it (22.15, 23.5 and later). */
type GetCaCertificates = (type: 'default' | 'system') => string[];

/**
 * The trusted CAs' PEM texts: the defaults, then what the store adds to them; undefined when the
 * store adds nothing, or cannot be read, or this Node cannot read it (the defaults then apply).
 */
export function storeAdditions(tls: Tls): string[] | undefined {
  const get = (tls as Tls & { getCACertificates?: GetCaCertificates }).getCACertificates;
  if (typeof get !== 'function') return undefined;
  let system: string[];
  let defaults: string[];
  try {
    system = get('system');
    defaults = get('default');
  } catch {
    // An unreadable store is no reason to fail every check: the defaults still apply.
    return undefined;
  }
  const known = new Set(defaults.map((pem) => pem.trim()));
  const added = new Set<string>();
  for (const pem of system) {
    const text = pem.trim();
    if (!known.has(text)) added.add(text);
  }
  return added.size === 0 ? undefined : [...defaults, ...added];
}

let context: SecureContext | null | undefined;

/**
 * The context of every check's TLS connection, made at the first call; undefined: Node's own
 * (nothing to add). Made once per process whatever changes in the store later, as Node does.
 */
export function registryContext(tls: Tls): SecureContext | undefined {
  if (context === undefined) {
    const ca = storeAdditions(tls);
    context = ca === undefined ? null : tls.createSecureContext({ ca });
  }
  return context ?? undefined;
}
