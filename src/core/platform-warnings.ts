/**
 * Warnings about a `verify` rule's `platforms` entries that no image index lists, so that every
 * check of the rule finds its target missing (with `onMissing: deny`, every Pod refused), though
 * the entry has the `os[(osversion)]/arch[/variant]` form: an OS or an architecture that images
 * are never built for (a typo, `lnux/amd64`); a Windows build written as the variant
 * (`windows/amd64/10.0.20348`): an index gives a Windows image's build as the entry's `os.version`,
 * which `windows(10.0.20348)/amd64` compares, and no entry has such a variant; an OS version that
 * is no Windows build (`windows(ltsc2022)/amd64`, `windows(10.0)/amd64`); and an OS version on
 * another OS (`linux(5.15)/amd64`): accepted, as containerd's platforms.Parse accepts it, but only
 * a Windows node compares an image's `os.version` and other images seldom carry one, so the check,
 * which compares it as written, would find none; and a variant containerd does not know for amd64,
 * arm or arm64 (`linux/amd64/v9`). Printed by check-config, logged at load.
 */
import type { CompiledRule, Issue } from './rule-types.js';

/**
 * The OS names images are built for: Go's GOOS values, which the OCI image spec recommends for an
 * index entry's `os`, `macos`, which containerd reads as darwin, and `wasi`, the OS of Docker's
 * WebAssembly images (`docker buildx build --platform wasi/wasm`).
 */
const OS_NAMES: ReadonlySet<string> = new Set([
  'aix', 'android', 'darwin', 'dragonfly', 'freebsd', 'hurd', 'illumos', 'ios', 'js', 'linux', 'macos', 'nacl', 'netbsd',
  'openbsd', 'plan9', 'solaris', 'wasi', 'wasip1', 'windows', 'zos',
]);

/**
 * The architecture names: Go's GOARCH values (past and present), and the other spellings containerd
 * reads (`x86_64`, `aarch64`, `armhf`...: src/verify/platform.ts).
 */
const ARCHITECTURE_NAMES: ReadonlySet<string> = new Set([
  '386', 'amd64', 'amd64p32', 'arm', 'armbe', 'arm64', 'arm64be', 'loong64', 'mips', 'mipsle', 'mips64', 'mips64le',
  'mips64p32', 'mips64p32le', 'ppc', 'ppc64', 'ppc64le', 'riscv', 'riscv64', 's390', 's390x', 'sparc', 'sparc64', 'wasm',
  'x86_64', 'x86-64', 'aarch64', 'i386', 'armhf', 'armel',
]);

/** A Windows build (`10.0.20348`, `10.0.17763.6414`): what an index entry's `os.version` holds. */
const BUILD = /^\d+\.\d+\.\d+(\.\d+)?$/;

/**
 * The variants containerd knows for the architectures that have them (platforms.Normalize, and the
 * amd64 levels of platforms.Only): another is an entry no index has. Other architectures' variants
 * are left alone.
 */
interface KnownVariants {
  readonly pattern: RegExp;
  readonly names: string;
  readonly example: string;
}
const AMD64: KnownVariants = { pattern: /^v[1-4]$/, names: 'v1 to v4', example: 'v2' };
const ARM: KnownVariants = { pattern: /^v?[5-8]$/, names: 'v5 to v8', example: 'v7' };
const ARM64: KnownVariants = { pattern: /^v?[89](\.\d)?$/, names: 'v8, v8.1 to v8.9, v9, v9.1 to v9.9', example: 'v8' };
const KNOWN_VARIANTS: Readonly<Partial<Record<string, KnownVariants>>> = { amd64: AMD64, x86_64: AMD64, 'x86-64': AMD64, arm: ARM, arm64: ARM64, aarch64: ARM64 };

const EXAMPLES = 'write it as an image index names it (linux/amd64, linux/arm64/v8, windows/amd64, windows(10.0.20348)/amd64)';

/** What is wrong with a platform, and how to write it instead. */
function platformProblem(platform: string): { problem: string; fix: string } | undefined {
  const [osPart = '', architecture = '', variant] = platform.split('/');
  const [os = '', version] = osPart.split('(').map((s) => s.replace(')', ''));
  if (!OS_NAMES.has(os)) return { problem: `no image is built for the OS "${os}"`, fix: EXAMPLES };
  if (!ARCHITECTURE_NAMES.has(architecture)) return { problem: `no image is built for the architecture "${architecture}"`, fix: EXAMPLES };
  const rest = variant === undefined ? '' : `/${variant}`;
  if (version !== undefined && os !== 'windows') {
    return {
      problem: `${version} is an OS version, which the check compares with an entry's os.version as written, though only Windows images carry one and only a Windows node compares it`,
      fix: `write ${os}/${architecture}${rest}`,
    };
  }
  if (version !== undefined && !BUILD.test(version)) {
    return {
      problem: `${version} is not a Windows build (major.minor.build, what an entry's os.version begins with)`,
      fix: 'write the build, like windows(10.0.17763)/amd64 for ltsc2019, windows(10.0.20348)/amd64 for ltsc2022',
    };
  }
  if (variant !== undefined && BUILD.test(variant)) {
    return {
      problem: `${variant} is a Windows build, not a variant: an index gives the build as an entry's os.version, and no entry has that variant`,
      fix: `write ${os}(${variant.split('.').slice(0, 3).join('.')})/${architecture} (an entry of that build then counts), or ${os}/${architecture} (one of any build)`,
    };
  }
  const known = variant === undefined ? undefined : KNOWN_VARIANTS[architecture.toLowerCase()];
  if (variant !== undefined && known !== undefined && !known.pattern.test(variant.toLowerCase())) {
    return { problem: `no image is built for the ${architecture} variant "${variant}" (${known.names})`, fix: `write ${os}/${architecture}/${known.example}, or ${os}/${architecture} (any variant)` };
  }
  return undefined;
}

/** The warnings for the `platforms` entries of verifying rules that no image index lists. */
export function platformWarnings(rules: readonly CompiledRule[]): Issue[] {
  const issues: Issue[] = [];
  for (const rule of rules) {
    rule.verify?.platforms.forEach((platform, j) => {
      const found = platformProblem(platform);
      if (found === undefined) return;
      issues.push({
        path: ['rules', rule.index, 'platforms', j],
        severity: 'warning',
        message: `"${platform}": ${found.problem}, so every check of rule "${rule.name}" would find the target missing; ${found.fix}`,
      });
    });
  }
  return issues;
}
