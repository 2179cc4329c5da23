/**
 * template.yaml as JSON: parsed with the `yaml` package, CloudFormation's short-form tags (`!Ref`,
 * `!Sub`, `!If`...) read into their long forms ({"Ref": ...}, {"Fn::Sub": ...}).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CollectionTag, parse, type ScalarTag } from 'yaml';
import { REPO_ROOT } from './fixtures.js';

export type Json = null | boolean | number | string | Json[] | JsonObject;
export interface JsonObject {
  [k: string]: Json;
}
export interface Resource {
  readonly Type: string;
  readonly Condition?: string;
  readonly Properties: Record<string, Json>;
}
export interface Template {
  readonly Parameters: Record<string, Record<string, Json>>;
  readonly Conditions: Record<string, Json>;
  readonly Resources: Record<string, Resource>;
  readonly Outputs: Record<string, Record<string, Json>>;
  readonly [section: string]: Json | Record<string, unknown>;
}

const FUNCTIONS = ['Ref', 'Condition', 'Sub', 'If', 'Not', 'Equals', 'And', 'Or', 'GetAtt', 'Join', 'Select', 'Split', 'FindInMap', 'Base64', 'GetAZs', 'ImportValue', 'Cidr'];
const key = (f: string): string => (f === 'Ref' || f === 'Condition' ? f : `Fn::${f}`);
const TAGS: (ScalarTag | CollectionTag)[] = FUNCTIONS.flatMap((f) => [
  { tag: `!${f}`, resolve: (s: string) => ({ [key(f)]: s }) } satisfies ScalarTag,
  { tag: `!${f}`, collection: 'seq', resolve: (value) => ({ [key(f)]: value.toJSON() as Json }) } satisfies CollectionTag,
]);

export const TEMPLATE_PATH = join(REPO_ROOT, 'template.yaml');

export function loadTemplate(path = TEMPLATE_PATH): Template {
  return parse(readFileSync(path, 'utf8'), { customTags: TAGS }) as Template;
}

/**
 * The whole numbers a String parameter's AllowedPattern takes, as [min, max] (scanned from 0 to
 * `upTo`); throws unless they are one unbroken range. The template's numeric settings are Strings
 * with a pattern: a Number parameter also takes floats, which the function refuses.
 */
export function patternRange(template: Template, name: string, upTo = 100_000): [number, number] {
  const pattern = template.Parameters[name]?.['AllowedPattern'];
  if (typeof pattern !== 'string') throw new Error(`${name} has no AllowedPattern`);
  const re = new RegExp(pattern);
  const taken: number[] = [];
  for (let n = 0; n <= upTo; n++) if (re.test(String(n))) taken.push(n);
  const min = taken[0];
  const max = taken.at(-1);
  if (min === undefined || max === undefined || max - min + 1 !== taken.length) throw new Error(`${name}: its pattern takes no single range of whole numbers`);
  return [min, max];
}
