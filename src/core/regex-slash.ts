/**
 * The check that a rule regex does not have to start with "/": a normalized name starts with its
 * registry host (`docker.io/library/nginx`), so such a rule can never match. Read from the source
 * by hand, like src/core/patterns.ts, since src/core does not carry the regex parser; it speaks
 * only of what surely starts with "/" (a refused rule stops a load, which is far worse than a rule
 * that silently rewrites nothing), so anything it does not know is let through. A leading "/" is
 * an error; a first group or class that matches only "/" is a warning: releases before this check
 * loaded such a document, and a Lambda whose rules a new error refuses starts with none. Pure.
 */
import { hasTopLevelAlternation } from './patterns.js';

/** Why a name never starts with "/", and what follows. */
const HOST_FIRST = '(a name starts with its registry host: docker.io/library/nginx), so the rule can never match';

/**
 * Why a rule regex that must start with "/" can never match: a leading "/" (a JavaScript literal's
 * slashes, `/gcr\.io\/(.*)/i`, taken as part of the pattern), or a first group or class that can
 * match only a "/" (`(/)gcr\.io/(.*)`, `[/]gcr\.io/(.*)`). Not a "/" that may be absent (`/?`,
 * `/*`, `/{0,1}`; `{0,1` is text, `(/)?`), a group with an alternative that need not start with
 * one (`(/|)`), a class with anything else in it, nor with a top-level `|`.
 */
export function slashedRegexProblem(source: string): SlashProblem | undefined {
  if (hasTopLevelAlternation(source)) return undefined;
  if (/^\^?\\?\/(?![?*]|\{0+(?:,\d*)?\})/.test(source)) {
    const inner = /^\/(.+)\/[a-z]*$/s.exec(source)?.[1];
    const fix = inner === undefined ? '' : `; write the pattern alone, without a regex literal's slashes and flags: "${inner}"`;
    return { severity: 'error', message: `starts with "/", which no image name does ${HOST_FIRST}${fix}` };
  }
  const first = slashFirst(source);
  if (first === undefined || first === '/' || first === '\\/') return undefined;
  return { severity: 'warning', message: `starts with "${first}", which matches only "/", and no image name starts with one ${HOST_FIRST}` };
}

/** What slashedRegexProblem finds, and how grave it is (the module's header says why). */
export interface SlashProblem {
  readonly severity: 'error' | 'warning';
  readonly message: string;
}

/** Groups inside one another read at the start; deeper ones are let through (the schema allows 256). */
const MAX_DEPTH = 32;

/**
 * The group or class (or "/") that `alternative` must start with when it can only match "/", else
 * undefined. A group must be followed by no `?`, `*` or `{` (which may repeat it no times: a brace
 * that is text instead is let through too), and each of its alternatives must start so.
 */
function slashFirst(alternative: string, depth = 0): string | undefined {
  if (depth > MAX_DEPTH) return undefined;
  let at = 0;
  while (alternative[at] === '^') at++;
  const c = alternative[at];
  let end: number;
  if (c === '/') end = at + 1;
  else if (c === '\\' && alternative[at + 1] === '/') end = at + 2;
  else if (c === '[') {
    end = classEnd(alternative, at);
    // Only "/" and "\/" inside: not negated, no range, no other character or escape.
    if (end < 0 || !/^(?:\/|\\\/)+$/.test(alternative.slice(at + 1, end - 1))) return undefined;
  } else if (c === '(') {
    // A capturing, non-capturing or named group; a lookaround (`(?=`, `(?<!`) matches no text.
    const open = /^\((?:\?:|\?<[A-Za-z_$][\w$]*>|(?!\?))/.exec(alternative.slice(at))?.[0];
    end = groupEnd(alternative, at);
    if (open === undefined || end < 0) return undefined;
    if (!alternativesOf(alternative.slice(at + open.length, end - 1)).every((a) => slashFirst(a, depth + 1) !== undefined)) return undefined;
  } else return undefined;
  if (/^[?*{]/.test(alternative.slice(end))) return undefined;
  return alternative.slice(at, end);
}

/** The index after the `]` that closes the class opening at `at` (`[]` is a class: empty), or -1. */
function classEnd(source: string, at: number): number {
  for (let i = at + 1; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') i++;
    else if (c === ']') return i + 1;
  }
  return -1;
}

/** The index after the `)` that closes the group opening at `at`, or -1. */
function groupEnd(source: string, at: number): number {
  let depth = 0;
  for (let i = at; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') i++;
    else if (c === '[') {
      i = classEnd(source, i) - 1;
      if (i < 0) return -1;
    } else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i + 1;
  }
  return -1;
}

/** A group's body split at its own `|` (not those in inner groups or classes). */
function alternativesOf(body: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let from = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === '\\') i++;
    else if (c === '[') {
      const end = classEnd(body, i);
      if (end < 0) return [body];
      i = end - 1;
    } else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) {
      out.push(body.slice(from, i));
      from = i + 1;
    }
  }
  out.push(body.slice(from));
  return out;
}
