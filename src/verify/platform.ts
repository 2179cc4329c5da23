/**
 * The `platforms` check: which of the wanted platforms (`linux/amd64`, `linux/arm64/v8`,
 * `windows(10.0.20348)/amd64`) an image index (OCI image index or Docker manifest list) or a single
 * image's config provides. Manifests
 * are foreign JSON: read loosely, and anything that is not what the specs describe counts as
 * "does not provide it", never as an exception.
 */
// Its own copy, not core/json's: a module the entry and this lazily loaded one both import is split
// by esbuild into a chunk of its own, one more file to load at every cold start.
const isRecord = (v: unknown): v is Readonly<Record<string, unknown>> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The media types a manifest request accepts (the registry picks one). */
export const MEDIA_TYPES = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;
export const ACCEPT = Object.values(MEDIA_TYPES).join(', ');

export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant: string | undefined;
  /** `os.version`: a Windows image's build (`10.0.20348.2700`); wanted only when written `os(version)`. */
  readonly osVersion?: string | undefined;
}

/**
 * The platform as containerd names it (platforms.Normalize), for the other spellings it takes:
 * `x86_64` and `x86-64` are amd64, `aarch64` arm64, `armhf` arm/v7, `armel` arm/v6, `i386` 386, an
 * arm variant may lack its `v` (`arm/7`), and `macos` is darwin. Without it a rule's
 * `linux/x86_64` was a platform no image has: every check missing, every Pod denied with `deny`.
 */
function normalized(os: string, architecture: string, variant: string | undefined, osVersion: string | undefined): Platform {
  const o = os.toLowerCase();
  let a = architecture.toLowerCase();
  let v = variant?.toLowerCase();
  switch (a) {
    case 'x86_64':
    case 'x86-64':
      a = 'amd64';
      break;
    case 'aarch64':
      a = 'arm64';
      break;
    case 'i386':
      a = '386';
      v = undefined;
      break;
    case 'armhf':
    case 'armel':
      v = a === 'armhf' ? 'v7' : 'v6';
      a = 'arm';
      break;
  }
  if ((a === 'arm' || a === 'arm64') && v !== undefined && /^\d+$/.test(v)) v = `v${v}`;
  return { os: o === 'macos' ? 'darwin' : o, architecture: a, variant: v, osVersion };
}

/**
 * `os[(osversion)]/arch[/variant]`, the form containerd's platforms.Parse reads and FormatAll writes
 * (`windows(10.0.20348)/amd64`); undefined when it is not that shape.
 */
export function parsePlatform(text: string): Platform | undefined {
  const parts = text.split('/');
  const osPart = /^([a-z0-9._-]+)(?:\(([a-z0-9._-]+)\))?$/.exec(parts[0] ?? '');
  if (osPart === null || parts.length < 2 || parts.length > 3 || parts.slice(1).some((p) => !/^[a-z0-9._-]+$/.test(p))) return undefined;
  const [, os = '', osVersion] = osPart;
  const [, architecture = '', variant] = parts;
  return normalized(os, architecture, variant, osVersion);
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function platformOf(value: unknown): Platform | undefined {
  if (!isRecord(value)) return undefined;
  const os = str(value['os']);
  const architecture = str(value['architecture']);
  if (os === undefined || architecture === undefined) return undefined;
  return normalized(os, architecture, str(value['variant']), str(value['os.version']));
}

/**
 * containerd's normalization (platforms.Normalize): arm64 without a variant is v8, arm without one
 * is v7 (what an arm node pulls for an index entry `linux/arm`), amd64 v1 is plain amd64.
 */
function variantOf(p: Platform): string | undefined {
  if (p.variant === undefined || p.variant === '') return p.architecture === 'arm64' ? 'v8' : p.architecture === 'arm' ? 'v7' : undefined;
  return p.architecture === 'amd64' && p.variant === 'v1' ? undefined : p.variant;
}

/**
 * The variants of an architecture a node runs, newest first (containerd's platforms.Only): a node
 * of one of them pulls an entry of a later one when the index has none of its own (an arm/v7 node
 * an arm/v6 image, an amd64/v3 node a plain amd64 one). Plain amd64 is v1 (variantOf).
 */
const OLDER_VARIANTS: Readonly<Record<string, readonly (string | undefined)[]>> = {
  arm: ['v8', 'v7', 'v6', 'v5'],
  amd64: ['v4', 'v3', 'v2', undefined],
};

/** The build of an OS version, its first three dot-separated parts (`10.0.20348` of `10.0.20348.2700`). */
const buildOf = (version: string): string => version.split('.').slice(0, 3).join('.');

/**
 * The OS version part of a match, for a wanted platform that gives one (`windows(10.0.20348)/amd64`):
 * the entry's `os.version` must be of the same build, its first three dot-separated parts
 * (major.minor.build) equal, whatever its revision (`10.0.20348.2700` for `10.0.20348`); an entry
 * without one does not count. A Windows node with process isolation runs only an image of its own
 * build, and containerd picks an index entry for it so: its Windows matcher (containerd/platforms,
 * `Default` in defaults_windows.go, the host's version written `major.minor.build`, and
 * platform_windows_compat.go) keeps the entries whose `os.version` has the host's major.minor.build
 * (the revision only orders them, newest first). The check reads the version as the build the index
 * must hold: containerd 2.x also lets a host of a build after ltsc2022 (10.0.20348) run an image of
 * an earlier build down to the LTSC before it (an ltsc2025 node an ltsc2022 image); for such a node,
 * write the build its Pods' images are of.
 */
function sameBuild(have: Platform, want: Platform): boolean {
  if (want.osVersion === undefined) return true;
  return have.osVersion !== undefined && buildOf(have.osVersion) === buildOf(want.osVersion);
}

/**
 * Does `have` satisfy `want`: would a node of `want` pull it? A wanted platform without a variant
 * takes any variant; one with a variant takes it or an older one it runs (OLDER_VARIANTS); one
 * with an OS version only an entry of its build (sameBuild).
 */
function satisfies(have: Platform, want: Platform): boolean {
  if (have.os !== want.os || have.architecture !== want.architecture || !sameBuild(have, want)) return false;
  if (want.variant === undefined) return true;
  const h = variantOf(have);
  const w = variantOf(want);
  if (h === w) return true;
  const order = OLDER_VARIANTS[want.architecture];
  if (order === undefined) return false;
  const wanted = order.indexOf(w);
  return wanted >= 0 && order.indexOf(h) > wanted;
}

export type ManifestShape =
  | { readonly kind: 'index'; readonly platforms: readonly Platform[] }
  | { readonly kind: 'image'; readonly configDigest: string | undefined }
  | { readonly kind: 'unknown' };

/** What a manifest body is, by its declared media type or, failing that, its shape. */
export function manifestShape(body: string, contentType: string | undefined): ManifestShape {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    return { kind: 'unknown' };
  }
  if (!isRecord(doc)) return { kind: 'unknown' };
  const mediaType = str(doc['mediaType']) ?? contentType?.split(';')[0]?.trim();
  const manifests = doc['manifests'];
  if (mediaType === MEDIA_TYPES.ociIndex || mediaType === MEDIA_TYPES.dockerList || (mediaType === undefined && Array.isArray(manifests))) {
    if (!Array.isArray(manifests)) return { kind: 'unknown' };
    const platforms = manifests.flatMap((m: unknown) => {
      const p = isRecord(m) ? platformOf(m['platform']) : undefined;
      return p === undefined ? [] : [p];
    });
    return { kind: 'index', platforms };
  }
  const config = doc['config'];
  if (isRecord(config)) return { kind: 'image', configDigest: str(config['digest']) };
  return { kind: 'unknown' };
}

/** The platform of an image config blob (`os`, `architecture`, `variant`, `os.version` at its top level). */
export function configPlatform(body: string): Platform | undefined {
  try {
    return platformOf(JSON.parse(body));
  } catch {
    return undefined;
  }
}

/** The wanted platforms none of `have` satisfies, as written (`linux/arm64`). */
export function lacking(have: readonly Platform[], wanted: readonly string[]): string[] {
  return wanted.filter((w) => {
    const want = parsePlatform(w);
    return want === undefined || !have.some((h) => satisfies(h, want));
  });
}

/**
 * Why a target counts as missing for its platforms, or undefined when it has them all: `R lacks
 * platform windows(10.0.20348)/amd64`, and for a platform wanted of one OS build, the builds the
 * target has for its os/arch (`R (its windows/amd64 builds: 10.0.17763.6414) lacks platform ...`),
 * the cause to fix. What is lacking comes last: an admission warning keeps a reason's end when it
 * cuts it to length (src/core/warning-text.ts).
 */
export function lackReason(registry: string, have: readonly Platform[], wanted: readonly string[]): string | undefined {
  const lack = lacking(have, wanted);
  if (lack.length === 0) return undefined;
  const builds = lack.flatMap((w) => {
    const want = parsePlatform(w);
    if (want?.osVersion === undefined) return [];
    const versions = have.filter((h) => h.os === want.os && h.architecture === want.architecture).map((h) => h.osVersion ?? 'none given');
    return [`its ${want.os}/${want.architecture} builds: ${versions.length > 0 ? [...new Set(versions)].join(', ') : 'none'}`];
  });
  return `${registry}${builds.length > 0 ? ` (${builds.join('; ')})` : ''} lacks platform ${lack.join(', ')}`;
}
