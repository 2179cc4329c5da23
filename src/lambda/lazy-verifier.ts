/**
 * The existence checks' verifier of the Lambda, its code loaded with import() at the first check:
 * src/verify is a fifth of the handler's entry file, compiled at every cold start, and a rules
 * document without `verify: true` never runs it (docs/performance.md, cold start). The rules can
 * change at a refresh, so the verifier is always there; only its loading waits for a check. A
 * load that fails answers every request `unreachable` (each rule's `onUnreachable` applies), and is
 * tried again at the next check.
 */
import type { VerifySettings } from '../config/settings.js';
import type { VerifierClients } from '../verify/setup.js';
import type { Verifier, VerifyResult } from '../verify/verifier.js';

type Setup = Pick<typeof import('../verify/setup.js'), 'verifierFor'>;

/** A Verifier that loads src/verify/setup.ts (and builds the real verifier) at its first check; `load` is injected by tests. */
export function lazyVerifier(settings: VerifySettings, clients: VerifierClients, load: () => Promise<Setup> = () => import('../verify/setup.js')): Verifier {
  let verifier: Promise<Verifier> | undefined;
  return {
    async verify(requests): Promise<VerifyResult> {
      verifier ??= load().then((setup) => setup.verifierFor(settings, clients));
      let loaded: Verifier;
      try {
        loaded = await verifier;
      } catch (e) {
        verifier = undefined;
        const reason = `the existence check could not be loaded (${e instanceof Error ? e.message : String(e)})`;
        return {
          verdicts: requests.map(() => ({ status: 'unreachable', reason })),
          stats: { checks: requests.length, cacheHits: 0, missing: 0, errors: requests.length, latencyMs: 0 },
        };
      }
      return loaded.verify(requests);
    },
  };
}
