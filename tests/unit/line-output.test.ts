/**
 * One write to stdout per invocation: `LineOutput` holds stdout's lines between `hold` and
 * `release`, and the handler holds from its review's line to the end of the invocation, so the
 * review's line and the EMF document go out together. stderr's lines are never held.
 */
import { describe, expect, it } from '@jest/globals';
import { parseRules } from '../../src/config/load.js';
import { fixedRules } from '../../src/config/sources.js';
import { EXAMPLE_RULES } from '../../src/cli/invoke.js';
import { createHandler } from '../../src/lambda/handler.js';
import { LineOutput } from '../../src/observability/json-log.js';
import { createObservability } from '../../src/observability/telemetry.js';
import { EVENT_TOKEN, loadEvent, withBody } from '../helpers/events.js';

interface Write {
  readonly stream: 1 | 2;
  readonly text: string;
}

function recorder(): { writes: Write[]; write: (text: string, stream: 1 | 2) => void } {
  const writes: Write[] = [];
  return { writes, write: (text, stream) => void writes.push({ stream, text }) };
}

const messages = (text: string): unknown[] =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const o = JSON.parse(l) as Record<string, unknown>;
      return '_aws' in o ? 'EMF' : o['message'];
    });

describe('LineOutput', () => {
  it('writes each line as it comes, with its newline, until held', () => {
    const { writes, write } = recorder();
    const out = new LineOutput(write);
    out.out('{"a":1}');
    out.err('{"b":2}');
    expect(writes).toEqual([
      { stream: 1, text: '{"a":1}\n' },
      { stream: 2, text: '{"b":2}\n' },
    ]);
  });

  it('keeps stdout lines from hold to release and writes them in one write, in order; stderr lines at once', () => {
    const { writes, write } = recorder();
    const out = new LineOutput(write);
    out.hold();
    out.out('{"n":1}');
    out.err('{"warn":true}');
    out.out('{"n":2}');
    expect(writes).toEqual([{ stream: 2, text: '{"warn":true}\n' }]);
    out.release();
    expect(writes).toEqual([
      { stream: 2, text: '{"warn":true}\n' },
      { stream: 1, text: '{"n":1}\n{"n":2}\n' },
    ]);
    out.out('{"n":3}');
    expect(writes.at(-1)).toEqual({ stream: 1, text: '{"n":3}\n' });
    expect(writes).toHaveLength(3);
  });

  it('writes nothing at a release with nothing held', () => {
    const { writes, write } = recorder();
    const out = new LineOutput(write);
    out.hold();
    out.release();
    out.release();
    expect(writes).toEqual([]);
  });
});

const example = parseRules(EXAMPLE_RULES, {});
if (!example.ok) throw new Error('example rules invalid');
const rewriter = example.rewriter;

describe('the handler with the Lambda observability', () => {
  function setup(): { writes: Write[]; invoke: ReturnType<typeof createHandler>; metrics: ReturnType<typeof createObservability>['metrics'] } {
    const { writes, write } = recorder();
    const obs = createObservability({ write, logLevel: 'INFO' });
    const invoke = createHandler({ rules: fixedRules(rewriter, 'example'), token: EVENT_TOKEN, logger: obs.logger, metrics: obs.metrics, output: obs.output });
    return { writes, invoke, metrics: obs.metrics };
  }

  it('writes a review to stdout once: its line, then the EMF document', async () => {
    const { writes, invoke } = setup();
    expect((await invoke(loadEvent('rest-pod-v1beta1-demo.json'))).statusCode).toBe(200);
    // The first invocation's "cold start" line comes before the review, as it happens.
    expect(writes.map((w) => [w.stream, messages(w.text)])).toEqual([
      [1, ['cold start']],
      [1, ['admission reviewed', 'EMF']],
    ]);
    writes.length = 0;
    await invoke(loadEvent('rest-deployment-v1.json'));
    expect(writes.map((w) => [w.stream, messages(w.text)])).toEqual([[1, ['admission reviewed', 'EMF']]]);
    expect(writes[0]?.text.endsWith('}\n')).toBe(true);
  });

  it('writes a review that is a warning to stderr as it happens, and its EMF document to stdout', async () => {
    const { writes, invoke } = setup();
    await invoke(loadEvent('rest-pod-v1beta1-demo.json'));
    writes.length = 0;
    const event = loadEvent('rest-pod-v1beta1-demo.json');
    const review = JSON.parse(String(event['body'])) as { request: { object: { spec: { containers: { image: string }[] } } } };
    const first = review.request.object.spec.containers[0];
    if (first === undefined) throw new Error('no container');
    first.image = 'Not A Reference';
    await invoke(withBody(event, review));
    expect(writes.map((w) => [w.stream, messages(w.text)])).toEqual([
      [2, ['admission reviewed']],
      [1, ['EMF']],
    ]);
  });

  it('writes a refused request (a WARN line) and its EMF document, nothing held back', async () => {
    const { writes, invoke } = setup();
    await invoke(loadEvent('rest-pod-v1beta1-demo.json'));
    writes.length = 0;
    expect((await invoke(loadEvent('rest-wrong-token.json'))).statusCode).toBe(401);
    expect(writes.map((w) => [w.stream, messages(w.text)])).toEqual([
      [2, ['request rejected']],
      [1, ['EMF']],
    ]);
  });

  it('still writes the held review line when the metrics cannot be written', async () => {
    const { writes, invoke, metrics } = setup();
    await invoke(loadEvent('rest-pod-v1beta1-demo.json'));
    writes.length = 0;
    metrics.publishStoredMetrics = (): void => {
      throw new Error('metrics broken');
    };
    expect((await invoke(loadEvent('rest-deployment-v1.json'))).statusCode).toBe(200);
    expect(writes.map((w) => [w.stream, messages(w.text)])).toEqual([
      [2, ['cannot publish metrics']],
      [1, ['admission reviewed']],
    ]);
  });
});
