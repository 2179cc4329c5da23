/**
 * With no rule asking for an existence check, a review does no I/O at all: the handler built as the
 * Lambda entry builds it (src/lambda/main.ts: the verifier from the settings, AWS clients loaded on
 * demand) opens no socket, resolves no name and reads no file over hundreds of reviews. Counted with
 * async_hooks, which sees every socket, DNS request and file operation Node starts; a positive
 * control (one rule with `verify: true`) shows the count is not blind.
 */
import { describe, expect, it } from '@jest/globals';
import { parseRules } from '../../src/config/load.js';
import { DEFAULT_VERIFY_DEADLINE_MS } from '../../src/config/settings.js';
import { fixedRules } from '../../src/config/sources.js';
import { createHandler } from '../../src/lambda/handler.js';
import { verifierFor } from '../../src/verify/setup.js';
import { ioDuring } from '../helpers/async-io.js';
import { useClosingPort } from '../helpers/closing-port.js';
import { captureObservability, EVENT_TOKEN, loadEvent } from '../helpers/events.js';

const noClient = (): Promise<never> => Promise.reject(new Error('an AWS client was asked for'));
const EVENT = loadEvent('rest-pod-v1.json');

/** A registry that never answers a TLS handshake. */
const closer = useClosingPort();

function handlerFor(rules: string) {
  const parsed = parseRules(rules, {});
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const obs = captureObservability();
  // As src/lambda/main.ts builds it, from the default verify settings.
  const verifier = verifierFor({ deadlineMs: DEFAULT_VERIFY_DEADLINE_MS, credentials: { kind: 'none' } }, { ssm: noClient, secretsManager: noClient });
  return createHandler({ rules: fixedRules(parsed.rewriter, 'test'), token: EVENT_TOKEN, logger: obs.logger, metrics: obs.metrics, verifier });
}

describe('the hot path without existence checks', () => {
  it('300 reviews rewritten by rules without verify (one to an ECR host) open no socket, resolve no name, read no file', async () => {
    const handler = handlerFor(
      'rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n  - name: hub\n    match: docker.io\n    replace: 123456789012.dkr.ecr.us-west-2.amazonaws.com/hub\n',
    );
    await handler(EVENT); // the first call may load modules; the counted ones are the steady state
    let patched = 0;
    const io = await ioDuring(async () => {
      for (let i = 0; i < 300; i++) {
        const r = await handler(EVENT);
        if (r.statusCode === 200 && r.body.includes('"patch"')) patched++;
      }
    });
    expect(patched).toBe(300);
    expect(io).toEqual({});
  });

  it('the count is not blind: one rule with verify: true opens a connection to its registry', async () => {
    const handler = handlerFor(`rules:\n  - name: gcr\n    match: gcr.io\n    replace: 127.0.0.1:${String(closer.port)}/gcr\n    verify: true\n    onUnreachable: keep\n`);
    const io = await ioDuring(async () => {
      const r = await handler(EVENT);
      expect(r.statusCode).toBe(200);
    });
    expect((io['TCPWRAP'] ?? 0) + (io['TLSWRAP'] ?? 0)).toBeGreaterThan(0);
  });
});
