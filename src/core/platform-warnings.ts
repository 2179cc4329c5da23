/**
 * Warnings about a `verify` rule's `platforms` entries that no image index lists, so that every
 * check of the rule finds its target missing (with `onMissing: deny`, every Pod refused), though
 * the entry has the `os/arch[/variant]` form: an OS or an architecture that images are never built
 * for (a typo, `lnux/amd64`), and a Windows build written as the variant
 * (`windows/amd64/10.0.20348`): an index gives a Windows image's build as the entry's `os.version`,
 * which the check does not compare (src/verify/platform.ts), and no entry has such a variant.
 * Printed by check-config, logged at load.
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

const EXAMPLES = 'write it as an image index names it (linux/amd64, linux/arm64/v8, windows/amd64)';

function platformProblem(platform: string): string | undefined {
  const [os = '', architecture = '', variant] = platform.split('/');
  if (!OS_NAMES.has(os)) return `no image is built for the OS "${os}"`;
  if (!ARCHITECTURE_NAMES.has(architecture)) return `no image is built for the architecture "${architecture}"`;
  if (variant !== undefined && BUILD.test(variant)) {
    return `${variant} is a Windows build, not a variant: an index gives the build as an entry's os.version, which the check does not compare, and no entry has that variant`;
  }
  return undefined;
}

/** The warnings for the `platforms` entries of verifying rules that no image index lists. */
export function platformWarnings(rules: readonly CompiledRule[]): Issue[] {
  const issues: Issue[] = [];
  for (const rule of rules) {
    rule.verify?.platforms.forEach((platform, j) => {
      const problem = platformProblem(platform);
      if (problem === undefined) return;
      const fix = problem.includes('Windows build') ? `write ${platform.split('/').slice(0, 2).join('/')} (an entry of any build then counts)` : EXAMPLES;
      issues.push({
        path: ['rules', rule.index, 'platforms', j],
        severity: 'warning',
        message: `"${platform}": ${problem}, so every check of rule "${rule.name}" would find the target missing; ${fix}`,
      });
    });
  }
  return issues;
}
