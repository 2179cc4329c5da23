/**
 * The CAs an existence check trusts (src/verify/trust.ts): Node's defaults, then what the
 * operating system's store adds to them; Node's own context when the store adds nothing, cannot be
 * read, or this Node cannot read it. The store read by a real Node is checked as a process in
 * render-verify.test.ts.
 */
import type tls from 'node:tls';
import { describe, expect, it } from '@jest/globals';
import { registryContext, storeAdditions } from '../../src/verify/trust.js';

type Tls = typeof tls;
const pem = (n: number): string => `-----BEGIN CERTIFICATE-----\nCA${n}\n-----END CERTIFICATE-----\n`;

/** A node:tls whose getCACertificates answers from these lists (or throws, or is missing). */
function fakeTls(stores: { default: string[]; system: string[] | Error } | undefined): Tls {
  if (stores === undefined) return {} as Tls;
  return {
    getCACertificates: (type: 'default' | 'system'): string[] => {
      const list = stores[type];
      if (list instanceof Error) throw list;
      return list;
    },
  } as unknown as Tls;
}

describe('storeAdditions', () => {
  it("is undefined on a Node without tls.getCACertificates (its defaults apply)", () => {
    expect(storeAdditions(fakeTls(undefined))).toBeUndefined();
  });

  it('is undefined when the store adds nothing to the defaults, whatever its copies and spacing', () => {
    expect(storeAdditions(fakeTls({ default: [pem(1), pem(2)], system: [pem(2), `${pem(1)}\n`, pem(2)] }))).toBeUndefined();
    expect(storeAdditions(fakeTls({ default: [pem(1)], system: [] }))).toBeUndefined();
  });

  it('is the defaults, then each CA the store adds, once', () => {
    expect(storeAdditions(fakeTls({ default: [pem(1), pem(2)], system: [pem(3), pem(1), pem(3), pem(4)] }))).toEqual([pem(1), pem(2), pem(3).trim(), pem(4).trim()]);
  });

  it('is undefined when the store cannot be read (the defaults still apply)', () => {
    expect(storeAdditions(fakeTls({ default: [pem(1)], system: new Error('cannot open') }))).toBeUndefined();
  });
});

describe('registryContext', () => {
  it("is a context of the defaults and the store's additions, made at the first call and kept for the process", () => {
    const made: string[][] = [];
    const context = { made: 'first' } as unknown as tls.SecureContext;
    const withStore = {
      getCACertificates: (type: 'default' | 'system'): string[] => (type === 'default' ? [pem(1)] : [pem(1), pem(2)]),
      createSecureContext: (options: { ca: string[] }): tls.SecureContext => {
        made.push(options.ca);
        return context;
      },
    } as unknown as Tls;
    expect(registryContext(withStore)).toBe(context);
    expect(made).toEqual([[pem(1), pem(2).trim()]]);
    // Later calls (a store changed meanwhile, or another module's view of it) use the first one.
    expect(registryContext(fakeTls({ default: [pem(1)], system: [] }))).toBe(context);
    expect(made).toHaveLength(1);
  });
});
