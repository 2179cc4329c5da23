/**
 * Reading untrusted JSON: plain-object checks and own-property access that never reach the
 * prototype (a `__proto__` key is data). The one `isRecord` of the code base.
 */

/** A plain JSON object (not null, not an array). */
export function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An own property of a JSON object; never reaches the prototype. */
export function own(value: unknown, key: string): unknown {
  return isRecord(value) && Object.hasOwn(value, key) ? value[key] : undefined;
}

/** The value at `path` (own properties only), or undefined. */
export function at(value: unknown, path: readonly string[]): unknown {
  let v = value;
  for (const key of path) v = own(v, key);
  return v;
}
