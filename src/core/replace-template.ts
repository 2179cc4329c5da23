/**
 * A rule's `replace`, from text to what it produces: `${env:NAME}` substitution, the checks on a
 * `match` rule's replacement prefix, and a `regex` rule's replacement template (literal text, `$N`
 * and `$<name>` group references), parsed once and applied per name. docs/design.md, "Rewrite
 * semantics".
 *
 * Pure: the environment is passed in, and problems come back as messages; src/core/rules.ts turns
 * them into issues with their path.
 */
import { DOCKER_HUB_HOSTS, matchedHost } from './matched-name.js';
import { foreignCharacter, parseNormalizedNamed } from './reference.js';
import type { RegexSample } from './regex-samples.js';

/** `${env:NAME}`: cannot clash with regex group references (`$1`, `$<name>`). */
const ENV_REF = /\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g;
const ANY_BRACE_REF = /\$\{[^}]*\}?/g;

/**
 * Variables that hold credentials (the function's AWS keys and session token, the webhook token, a
 * password...): never substituted. A value put into a `replace` ends up in patches, admission
 * warnings, annotations and, when the result is invalid, in the logged problem; whoever may edit the
 * rules must not be able to read the function's secrets that way (nor, for `render` in CI, the
 * pipeline's). The words are found anywhere in the name, not only as `_`-separated components:
 * `PGPASSWORD`, `APP_SECRETS`, `SECRETKEY`, `MYSQL_PWD`, `DOCKER_AUTH_CONFIG`, `GITHUB_PAT`,
 * `ENCRYPTION_KEY` are credentials too. A name refused by mistake costs a clear error; a secret
 * substituted by mistake cannot be taken back.
 */
const CREDENTIAL_VAR = /SECRET|TOKEN|PASSW|PWD|CREDENTIAL|AUTH|PRIVATE|SESSION|COOKIE|KEY(?:_|$)|(?:^|_)(?:PASS|PAT|DSN)(?:_|$)/i;

/** A piece of a `replace` after substitution: its own text, or a variable's value (plain text, never a template). */
export interface ReplacePiece {
  readonly text: string;
  readonly fromEnv: boolean;
}

/**
 * `value` with every `${env:NAME}` replaced by the variable's value, the same as pieces (so that a
 * template reads `$1` only in the rule's own text, never in a variable's value), and a message for
 * each `${...}` that is not one and each variable that is not set or empty (in that order).
 */
export function substituteEnv(value: string, env: Readonly<Record<string, string | undefined>>): { value: string; pieces: ReplacePiece[]; errors: string[] } {
  const errors: string[] = [];
  for (const m of value.matchAll(ANY_BRACE_REF)) {
    if (!/^\$\{env:[A-Za-z_][A-Za-z0-9_]*\}$/.test(m[0])) {
      errors.push(`bad substitution "${m[0]}": write \${env:NAME}`);
    }
  }
  const pieces: ReplacePiece[] = [];
  let last = 0;
  for (const m of value.matchAll(ENV_REF)) {
    if (m.index > last) pieces.push({ text: value.slice(last, m.index), fromEnv: false });
    last = m.index + m[0].length;
    const varName = m[1] ?? '';
    const v = env[varName];
    if (CREDENTIAL_VAR.test(varName)) errors.push(`environment variable ${varName} may hold a credential and is never substituted (used as \${env:${varName}})`);
    else if (v === undefined || v.trim() === '') errors.push(`environment variable ${varName} is not set (used as \${env:${varName}})`);
    else pieces.push({ text: v, fromEnv: true });
  }
  if (last < value.length) pieces.push({ text: value.slice(last), fromEnv: false });
  return { value: pieces.map((p) => p.text).join(''), pieces, errors };
}

/**
 * Whether a name's first component is a registry host written as rules write hosts: it has a `.`
 * or a `:`, or is `localhost`; otherwise the kubelet pulls the name from Docker Hub. (A first
 * component in capitals is a host too for the reference grammar, but not one written in lower case.)
 */
export function hasRegistryHost(name: string): boolean {
  const slash = name.indexOf('/');
  const first = slash < 0 ? name : name.slice(0, slash);
  return first.includes('.') || first.includes(':') || first === 'localhost';
}

const noHost = (replace: string): string => {
  const first = replace.split('/')[0] ?? '';
  // Capitals make a first component a host for the reference grammar (`MIRROR/x` is host MIRROR,
  // not Docker Hub's docker.io/MIRROR/x, which the grammar refuses): refused all the same, since
  // hosts are written in lower case (docs/design.md, "Rewrite semantics"), but not for Docker Hub.
  if (first !== first.toLowerCase()) {
    const lower = first.toLowerCase();
    return `"${replace}" starts with "${first}", a registry host only because of its capitals (in lower case, "${lower}" would be a Docker Hub name); write the host in lower case, with a dot or a port, e.g. "${lower}.example.com"`;
  }
  return `"${replace}" does not start with a registry host, so the kubelet would pull "${replace}/..." from Docker Hub (docker.io/${replace}/...); write the host, e.g. "${first}.example.com"`;
};

/**
 * What a refused prefix (a `match`, an `exclude`, a match rule's `replace`) was most likely meant as,
 * in the shapes people write: a URL, a glob, a tag, a trailing slash; '' for any other. The spelling
 * it gives drops every one of them (`https://gcr.io/app:1/` is gcr.io/app), and `respell` gives the
 * spelling to write for what is left (a `match` or `exclude` compares hosts in one spelling).
 */
export function prefixHint(value: string, respell: (spelling: string) => string = (s) => s): string {
  // Substituted in `replace` only (README, "Values from the environment"): a `match` or `exclude` names its prefix itself.
  if (value.includes('${env:')) return ': ${env:NAME} is replaced in replace only; write the prefix itself';
  // A space, a zero-width space or a Cyrillic `о` in `dоcker.io`: said where, the value looks right.
  const foreign = foreignCharacter(value);
  if (foreign !== undefined) return `: ${foreign}`;
  const bare = value.replace(/^[a-z]+:\/\//i, '');
  const fixed = withoutTag(bare.replace(/(?:\/\**)+$/, ''));
  if (fixed.includes('*')) return ': a prefix takes no wildcards (it names one host, then a path); for several hosts write one per host, or a regex rule';
  // Only for a value one of the shapes changed: `respell` may check the spelling as a value again.
  const write = (): string => `write "${respell(fixed)}"`;
  if (bare !== value) return `: no scheme, ${write()}`;
  if (/\/\*+$/.test(value)) return `: a prefix takes every name under it, without a wildcard: ${write()}`;
  if (value.endsWith('/')) return `: without the trailing "/", ${write()}`;
  if (fixed !== value) return `: a prefix is a name without its tag (rules see names alone, and keep the tag): ${write()}`;
  return '';
}

/** `name:tag` -> `name` (a `:` after the last `/`; a host's port has no `/` before it). */
const withoutTag = (value: string): string => /^(.*\/[^/:]+):[^/]*$/.exec(value)?.[1] ?? value;

/**
 * An "@" before the first "/" (after an optional scheme) is a URL's credentials
 * (`https://robot:token@mirror.example.com`), not part of an image name: such a replace is refused
 * without being printed, here or in the log line of an invalid document.
 */
const mayHoldCredentials = (text: string): boolean => /^(?:[a-z][a-z0-9+.-]*:\/\/)?[^/@]*@/i.test(text);
const CREDENTIALS_HIDDEN = 'is not a valid image name prefix (registry host, then optional /path; the value is not shown: an "@" before its first "/" may be a URL\'s credentials)';

/** Why a prefix rule's `replace` is not a usable registry/repository prefix, if it is not. */
export function replaceProblem(replace: string): string | undefined {
  return replaceProblemOf(replace, true);
}

/** replaceProblem, with (`hinted`) or without what is wrong with the spelling its hint gives: one level, however many shapes a value nests. */
function replaceProblemOf(replace: string, hinted: boolean): string | undefined {
  if (replace === '') return 'must not be empty';
  // Parse it as the prefix of a name, so that a bare `host:5000` is not read as `host` tagged `5000`.
  const parsed = parseNormalizedNamed(`${replace}/x`);
  if (!parsed.ok) {
    // Said in the terms of what was written: the parser's own message quotes the probe's
    // `/x` (`repository name (Hub/x)`) or only says "invalid reference format" for a `$1` or a tag.
    if (mayHoldCredentials(replace)) return CREDENTIALS_HIDDEN;
    if (replace.includes('$')) return `"${replace}" is not a valid image name prefix: a "$" is neither \${env:NAME} nor part of an image name (group references such as $1 are for regex rules)`;
    const own = templateTagOrDigest([{ text: replace }]);
    if (own !== undefined) return `"${replace}" gives every result a ${own} of its own; write the name only: the image's own tag and digest are kept`;
    if (parsed.error.kind === 'NameContainsUppercase') return `"${replace}" is not a valid image name prefix: its path must be lower case`;
    // The spelling a hint gives can be refused in turn (`https://mirror/x` -> "mirror/x", no host): said at once.
    let then: string | undefined;
    const hint = prefixHint(replace, (spelling) => {
      if (hinted) then = replaceProblemOf(spelling, false);
      return spelling;
    });
    if (hint !== '') return `"${replace}" is not a valid image name prefix${hint}${then === undefined ? '' : `; but ${then}`}`;
    return `"${replace}" is not a valid image name prefix: ${parsed.error.message}`;
  }
  if (!hasRegistryHost(replace)) return noHost(replace);
  return undefined;
}

/**
 * Why a regex rule's template cannot start with a registry host, when its first component is its
 * own text (no group reference before the first `/`): the same rule as a prefix rule's `replace`.
 * A template that is all text must also have a path after its host: a name of one component is
 * Docker Hub's (`mirror.example.com` is docker.io/library/mirror.example.com). A first component
 * from a group is checked on each result instead (rules.ts).
 */
export function templateHostProblem(parts: readonly TemplatePart[]): string | undefined {
  let literal = '';
  for (const p of parts) {
    if (!('text' in p)) {
      if (!literal.includes('/')) return undefined;
      break;
    }
    literal += p.text;
  }
  if (mayHoldCredentials(literal)) return CREDENTIALS_HIDDEN;
  // Said as for a match rule's replace (prefixHint), not only "can never yield a valid image name".
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(literal)?.[0];
  if (scheme !== undefined) return `"${literal}..." starts with a URL's scheme, which no image name has: no scheme, write the template without "${scheme}"`;
  const first = literal.split('/')[0] ?? '';
  if (!hasRegistryHost(first)) return noHost(first);
  if (!literal.includes('/')) {
    return `"${literal}" has no path after its host, so the kubelet would pull it from Docker Hub (docker.io/library/${literal}); write the repository too, e.g. "${literal}/app"`;
  }
  return undefined;
}

/**
 * The text a regex rule's template ends its registry host with, when a group comes before it
 * (`.mirror.example.com` of `$1.mirror.example.com/$2`): each result's host must end with it. A
 * group that matched a `/` (`(.*)\.gcr\.io/(.*)` on `evil.example:8443/x.gcr.io/y`) would
 * otherwise end the host inside the group, and the image would go, and be checked, wherever the
 * Pod's own text names. Undefined when the host is all text, or ends with a group (`mirror:$1`).
 */
export function templateHostSuffix(parts: readonly TemplatePart[]): string | undefined {
  let group = false;
  let tail = '';
  for (const p of parts) {
    if (!('text' in p)) {
      group = true;
      tail = '';
      continue;
    }
    const slash = p.text.indexOf('/');
    tail += slash < 0 ? p.text : p.text.slice(0, slash);
    if (slash >= 0) break;
  }
  return group && tail !== '' ? tail : undefined;
}

/**
 * The registry host a regex rule's template writes whole before a group that follows it directly
 * (`mirror.example.com` of `mirror.example.com$1`, for `gcr\.io(/.*)`): each result's host must be
 * it, or it and a port. A group that can match more than a path (`gcr\.io(.*)` on
 * `gcr.io.evil.example/x`) would otherwise extend the host, and the image would go, and be checked,
 * wherever the Pod names (`mirror.example.com.evil.example`). Undefined unless the template starts
 * with a complete host name (a dot or a port in it, or `localhost`, ending in a letter or digit)
 * directly followed by a group, or with a host name and the `:` of a port a group writes
 * (`mirror.example.com:$1/$2`: a `verify` rule that asks only that host is not one whose host a
 * group names).
 */
export function templateHostExact(parts: readonly TemplatePart[]): string | undefined {
  // The text before the first group may be several parts: a host written with ${env:NAME}
  // (`${env:AWS_ACCOUNT_ID}.dkr.ecr.${env:AWS_REGION}.${env:AWS_URL_SUFFIX}$1`) is one part per piece.
  let host = '';
  let i = 0;
  for (let p = parts[i]; p !== undefined && 'text' in p; p = parts[++i]) host += p.text;
  if (i === 0 || i === parts.length || host.includes('/')) return undefined;
  // A host and the `:` of a port the group writes (`mirror.example.com:$1/$2`): that host, on any port.
  if (host.endsWith(':')) return /^[A-Za-z0-9.-]*[A-Za-z0-9]:$/.test(host) ? host.slice(0, -1) : undefined;
  // Complete as the kubelet reads a host: a dot, a port or `localhost` (`mirror$1` is left for the group to finish).
  return hasRegistryHost(host) && /[A-Za-z0-9]$/.test(host) ? host : undefined;
}

/**
 * Whether a group writes part of a regex rule's registry host with nothing to pin the result to a
 * host of the template's: neither `templateHostExact` applies nor a `templateHostSuffix` that
 * names a domain (`$<host>/mirror/$<rest>`; `$1:5000/$2`, whose suffix is a port only, any host on
 * it; `$1example.com/$2` or `$1.com/$2`, any host that ends so). The image's own text then names
 * the host.
 */
export function templateHostFromGroup(parts: readonly TemplatePart[]): boolean {
  const suffix = templateHostSuffix(parts);
  if ((suffix !== undefined && suffixNamesDomain(suffix)) || templateHostExact(parts) !== undefined) return false;
  for (const p of parts) {
    if (!('text' in p)) return true;
    if (p.text.includes('/')) return false;
  }
  return false;
}

/**
 * A result of a regex rule whose template writes its first component with a group, when none of
 * its samples (the few, then more: src/core/regex-samples.ts) is a name with a registry host: the
 * kubelet would pull each from Docker Hub, so each is refused at admission (src/core/rules.ts) and
 * the rule rewrites nothing. Undefined when one has a host, a literal writes it, or none was made.
 */
export function hostlessSample(parts: readonly TemplatePart[], first: () => readonly RegexSample[], more: () => readonly RegexSample[]): RegexSample | undefined {
  // The first component's own text: with a "." or a ":" every result has a host, and no sample is
  // made (making them runs the regex, which compiles it: a cost at load for each such rule).
  let fromGroup = false;
  let text = '';
  for (const p of parts) {
    if (!('text' in p)) {
      fromGroup = true;
      continue;
    }
    const slash = p.text.indexOf('/');
    text += slash < 0 ? p.text : p.text.slice(0, slash);
    if (slash >= 0) break;
  }
  if (!fromGroup || text.includes('.') || text.includes(':')) return undefined;
  const hostless = (list: readonly RegexSample[]): boolean => list.length > 0 && list.every((s) => !s.out.includes('/') || !hasRegistryHost(s.out));
  if (!hostless(first())) return undefined;
  const all = more();
  return hostless(all) ? all[0] : undefined;
}

/**
 * Whether a host suffix (`templateHostSuffix`) keeps every host under one domain: past its first
 * `.`, a name of two labels or more, before any port (`.mirror.example.com`, `-mirror.example.com:5000`:
 * example.com; not `:5000`, `example.com`, which `evilexample.com` ends with too, nor `.com`).
 */
function suffixNamesDomain(suffix: string): boolean {
  const name = suffix.replace(/:\d*$/, '');
  const dot = name.indexOf('.');
  return dot >= 0 && /^[^.]+\.[^.]/.test(name.slice(dot + 1));
}

/**
 * Text every result of a regex rule's template starts with, as rules compare names (its host in
 * lower case, its port without leading zeros, no `:443`, Docker Hub's hosts `docker.io`): the text
 * before its first group, up to before a `:` of a host it does not end (a port a group may finish),
 * and nothing when that could still become one of Docker Hub's hosts.
 */
export function templateStart(parts: readonly TemplatePart[]): string {
  let text = '';
  for (const p of parts) {
    if (!('text' in p)) break;
    text += p.text;
  }
  const slash = text.indexOf('/');
  if (slash >= 0) return matchedHost(text.slice(0, slash)) + text.slice(slash);
  const host = text.toLowerCase().split(':')[0] ?? '';
  return [...DOCKER_HUB_HOSTS].some((hub) => hub.startsWith(host)) ? '' : host;
}

/** A replacement template for regex rules: literal text, $N and $<name> group references. */
export type TemplatePart = { readonly text: string } | { readonly group: number } | { readonly named: string };

/**
 * The parts of a substituted `replace` as a template: group references are read in the rule's own
 * text only; a variable's value is literal text.
 */
export function parseTemplatePieces(pieces: readonly ReplacePiece[], groupCount: number, groupNames: ReadonlySet<string>): { parts: TemplatePart[]; errors: string[] } {
  const parts: TemplatePart[] = [];
  const errors: string[] = [];
  for (const piece of pieces) {
    if (piece.fromEnv) {
      parts.push({ text: piece.text });
      continue;
    }
    const parsed = parseTemplate(piece.text, groupCount, groupNames);
    for (const p of parsed.parts) parts.push(p);
    for (const e of parsed.errors) errors.push(e);
  }
  return { parts, errors };
}

const LONE_DOLLAR = 'a "$" must start a group reference ($1, $<name>) or ${env:NAME}';

/** The parts of a template, and a message for each reference the regex cannot fill. */
function parseTemplate(tpl: string, groupCount: number, groupNames: ReadonlySet<string>): { parts: TemplatePart[]; errors: string[] } {
  const parts: TemplatePart[] = [];
  const errors: string[] = [];
  // `$<...>` takes whatever is between the brackets and looks it up among the regex's own group
  // names, so any name the regex may give a group (`$host`, `répo`) is read: a narrower reader
  // refused `$<$host>` as a "$" that starts nothing. Not an identifier pattern with \p{ID_Start}:
  // this runs at every cold start, and a u-flag property class costs more to compile than the rest.
  const re = /\$(?:(\d{1,2})|<([^<>]+)>)|\$/g;
  let last = 0;
  for (const m of tpl.matchAll(re)) {
    if (m.index > last) parts.push({ text: tpl.slice(last, m.index) });
    last = m.index + m[0].length;
    const [, num, named] = m;
    if (num !== undefined) {
      const n = Number(num);
      // Two digits are one reference: JavaScript's replace would read `$10` as `$1` and "0" when
      // there is no group 10; say how to write that instead of guessing.
      const single = num.length === 2 && n > groupCount && Number(num[0]) >= 1 && Number(num[0]) <= groupCount;
      const hint = single ? `; for $${num[0]} followed by "${num[1]}", write $0${num[0]}${num[1]}` : '';
      if (n < 1 || n > groupCount) errors.push(`$${num} refers to a group the regex does not have (it has ${groupCount})${hint}`);
      parts.push({ group: n });
    } else if (named !== undefined) {
      if (!groupNames.has(named)) errors.push(`$<${named}> refers to a named group the regex does not have`);
      parts.push({ named });
    } else if (!errors.includes(LONE_DOLLAR)) {
      // Once per template: `$$` said it twice.
      errors.push(LONE_DOLLAR);
    }
  }
  if (last < tpl.length) parts.push({ text: tpl.slice(last) });
  return { parts, errors };
}

/** Names of the capture groups of a compiled regex, and how many there are. */
export function groupsOf(re: RegExp): { count: number; names: Set<string> } {
  // An empty alternative makes the regex match '' so the groups show up in the result; first, so
  // that the pattern itself is never run (one that backtracks on '' would hold the process).
  const probe = new RegExp(`|${re.source}`, re.flags).exec('');
  return { count: probe === null ? 0 : probe.length - 1, names: new Set(Object.keys(probe?.groups ?? {})) };
}

/** What every group is set to when checking that a template can yield a valid name. */
export const SAMPLE_GROUP_VALUE = 'x';

/**
 * The values every group is set to, first (nothing to run), before a rule is refused as one that
 * can never yield a valid name; then names the regex matches are (src/core/regex-samples.ts): "x",
 * "/x" for a group that always starts the path (`asia.gcr.io$1`), a port
 * (`mirror.example.com:$1/$2`), and nothing (a group that need not take part).
 */
export const SAMPLE_GROUP_VALUES: readonly string[] = [SAMPLE_GROUP_VALUE, `/${SAMPLE_GROUP_VALUE}`, '5000', ''];

/** The template with every group set to `value` (SAMPLE_GROUP_VALUE by default). */
export const sampleOf = (parts: readonly TemplatePart[], value = SAMPLE_GROUP_VALUE): string => parts.map((p) => ('text' in p ? p.text : value)).join('');

/**
 * The tag or digest a template's own text gives every result: an `@` (a name never has one), or a
 * `:` after a `/` of its text (past the host a `:` can only start a tag). The image's own tag and
 * digest are appended to the result, so every result of such a rule is refused; its sample may
 * still parse (`mirror.example.com/x:v2`). A `:` before the first `/` may be a host's port, with
 * the path from a group (`mirror.example.com:$1`): each result is checked for that one.
 */
export function templateTagOrDigest(parts: readonly TemplatePart[]): 'tag' | 'digest' | undefined {
  let pastHost = false;
  for (const p of parts) {
    if (!('text' in p)) continue;
    for (const c of p.text) {
      if (c === '@') return 'digest';
      if (c === ':' && pastHost) return 'tag';
      if (c === '/') pastHost = true;
    }
  }
  return undefined;
}

/** The template filled from a match of its regex; a group that did not take part gives ''. */
export function applyTemplate(parts: readonly TemplatePart[], m: RegExpExecArray): string {
  let out = '';
  for (const p of parts) {
    if ('text' in p) out += p.text;
    else if ('group' in p) out += m[p.group] ?? '';
    else out += m.groups?.[p.named] ?? '';
  }
  return out;
}
