/**
 * The rules parse of the rules providers (src/config/load-async.ts): the same results as the
 * synchronous parseRules of the command line, with the YAML parser loaded only for a document that
 * is not JSON, the regex check only for a document with a `regex` rule, regexpp only for a regex
 * outside the subset the check parses itself, and zod only for a document the quick check does
 * not accept (the modules are replaced here by wrappers that record being imported); a module that
 * cannot be loaded is an issue, not a rejection. And the refresh engine applies documents in the order they were read,
 * however long each parse takes.
 */
import { describe, expect, it, jest } from '@jest/globals';
import { captureObservability } from '../helpers/events.js';

const imported: string[] = [];
let yamlFails = false;
const realYaml = await import('../../src/config/yaml-document.js');
const realRegex = await import('../../src/config/regex-check.js');
const realRegexpp = await import('../../src/config/regex-parse-full.js');
jest.unstable_mockModule('../../src/config/yaml-document.js', () => {
  imported.push('yaml');
  if (yamlFails) throw new Error('chunk missing');
  return realYaml;
});
jest.unstable_mockModule('../../src/config/regex-check.js', () => {
  imported.push('regex');
  return realRegex;
});
jest.unstable_mockModule('../../src/config/regex-parse-full.js', () => {
  imported.push('regexpp');
  return realRegexpp;
});
const realSchema = await import('../../src/config/schema.js');
jest.unstable_mockModule('../../src/config/schema.js', () => {
  imported.push('zod');
  return realSchema;
});
const { parseRulesAsync } = await import('../../src/config/load-async.js');
const { parseRules } = await import('../../src/config/load.js');
const { refreshEngine } = await import('../../src/config/refresh.js');

const JSON_RULES = '{"rules":[{"name":"gcr","match":"gcr.io","replace":"asia.gcr.io"}]}';
const JSON_REGEX = '{"rules":[{"name":"quay","regex":"quay\\\\.io/([^/]+)/(.+)","replace":"mirror.example.com/$1/$2"}]}';
const QUAY_RULE = '{"name":"quay","regex":"quay\\\\.io/(?<org>[^/]+)/(.+)","replace":"mirror.example.com/quay/$<org>/$2"}';
const YAML_RULES = 'rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n';
/** YAML outside the subset read without the parser (src/config/yaml-subset.ts): a double-quoted escape. */
const YAML_PARSER_RULES = 'rules:\n  - name: gcr\n    match: "gcr\\u002eio"\n    replace: asia.gcr.io\n';

type Result = Awaited<ReturnType<typeof parseRulesAsync>>;

/** A result without its functions: the issues, or the document, the warnings and what the rewriter does. */
const summary = (r: Result): unknown => {
  if (!r.ok) return r;
  const image = (i: string): string => {
    const out = r.rewriter.rewrite(i);
    return out.kind === 'rewritten' ? out.rewritten : out.image;
  };
  return { document: r.document, warnings: r.warnings, rules: r.rewriter.rules.map((x) => x.name), rewrites: ['gcr.io/a/b:1', 'quay.io/o/r:2'].map(image) };
};

/** Modules are cached once imported: each row runs in a fresh module registry. */
async function fresh(): Promise<typeof import('../../src/config/load-async.js')> {
  jest.resetModules();
  imported.length = 0;
  return import('../../src/config/load-async.js');
}

describe('parseRulesAsync', () => {
  it.each([
    ['JSON, no regex rule', JSON_RULES, []],
    ['JSON with a regex rule', JSON_REGEX, ['regex']],
    ['YAML in the subset read without the parser, no regex rule', YAML_RULES, []],
    ['YAML in the subset, with a regex rule', 'rules:\n  - name: q\n    regex: quay\\.io/(.+)\n    replace: m.example.com/$1\n', ['regex']],
    ['YAML outside that subset', YAML_PARSER_RULES, ['yaml']],
    ['YAML outside that subset, with a regex rule', 'rules:\n  - name: q\n    regex: quay\\.io/(.+)\n    replace: "m.example.com/\\x24\\x31"\n', ['yaml', 'regex']],
    ['JSON with a broken regex', '{"rules":[{"name":"q","regex":"(a+)+","replace":"x.example.com"}]}', ['regex', 'zod']],
    ['JSON with an unknown field (zod says which)', '{"rules":[{"name":"gcr","match":"gcr.io","replace":"asia.gcr.io","namspaces":["a"]}]}', ['zod']],
    ['JSON whose rules only the compile refuses (no zod)', '{"rules":[{"name":"gcr","match":"gcr.io","replace":"${env:UNSET}.example.com"}]}', []],
    ['JSON with a duplicate key', '{"rules":[],"rules":[]}', []],
    ['a list (not JSON by its first character: read as YAML)', '[1]', ['yaml']],
    ['empty', '  ', []],
    ['JSON with a regex field that is not a string', '{"rules":[{"name":"q","regex":3,"replace":"x.example.com"}]}', ['regex', 'zod']],
    ['JSON with regexes all in the subset the check parses (no regexpp)', `{"rules":[${QUAY_RULE},{"name":"g","regex":"([a-z0-9.-]+)\\\\.gcr\\\\.io/(.+)","replace":"m.example.com/$1/$2"}]}`, ['regex']],
    ['JSON with a safe regex outside the subset', '{"rules":[{"name":"q","regex":"quay\\\\.io/\\\\x41([^/]+)","replace":"x.example.com/$1"}]}', ['regex', 'regexpp']],
    ['JSON with a backreference (outside the subset)', '{"rules":[{"name":"q","regex":"(a)\\\\1","replace":"x.example.com"}]}', ['regex', 'regexpp', 'zod']],
    ['JSON with a lookahead (outside the subset) after a regex inside it', `{"rules":[${QUAY_RULE},{"name":"q","regex":"(?=a)a","replace":"x.example.com"}]}`, ['regex', 'regexpp', 'zod']],
    ['JSON with a rule that is not a mapping before a regex outside the subset', '{"rules":["x",{"name":"q","regex":"(a)\\\\1","replace":"x.example.com"}]}', ['regex', 'regexpp', 'zod']],
    ['JSON with a regex that does not compile (no parser needed)', '{"rules":[{"name":"q","regex":"a(","replace":"x.example.com"}]}', ['regex', 'zod']],
    ['YAML with a syntax error', 'rules: [', ['yaml']],
  ])('%s: what parseRules gives, loading %j', async (_label, text, loads) => {
    const { parseRulesAsync: parse } = await fresh();
    const env = { ACCOUNT: '123456789012' };
    const result = await parse(text, env);
    expect(summary(result)).toEqual(summary(parseRules(text, env)));
    expect(imported).toEqual(loads);
  });

  it('loads regexpp for the first document that needs it, and the check of later documents reads with it', async () => {
    const { parseRulesAsync: parse } = await fresh();
    const outside = (regex: string): string => JSON.stringify({ rules: [{ name: 'q', regex, replace: 'x.example.com/$1' }] });
    expect(await parse(`{"rules":[${QUAY_RULE}]}`, {})).toMatchObject({ ok: true });
    expect(imported).toEqual(['regex']);
    expect(await parse(outside('quay\\.io/\\x41([^/]+)'), {})).toMatchObject({ ok: true });
    expect(imported).toEqual(['regex', 'regexpp']);
    // Loaded once per process: the same check, now reading what the subset parser declines.
    const backreference = outside('(a)\\1([^/]+)');
    expect(summary(await parse(backreference, {}))).toEqual(summary(parseRules(backreference, {})));
    expect(await parse(backreference, {})).toMatchObject({ ok: false, issues: [expect.objectContaining({ message: expect.stringContaining('uses a backreference') })] });
    expect(imported).toEqual(['regex', 'regexpp', 'zod']);
  });

  it('a library that cannot be loaded is an issue of the document, not a rejection', async () => {
    const { parseRulesAsync: parse } = await fresh();
    yamlFails = true;
    try {
      expect(await parse(YAML_PARSER_RULES, {})).toEqual({ ok: false, issues: [expect.objectContaining({ path: [], severity: 'error', message: expect.stringContaining('cannot be read: ') })] });
    } finally {
      yamlFails = false;
    }
    expect(await parseRulesAsync(JSON_RULES, {})).toMatchObject({ ok: true });
  });
});

describe('refreshEngine', () => {
  it('applies documents in the order they were read, though the first takes longer to parse', async () => {
    await fresh();
    const obs = captureObservability();
    const engine = refreshEngine('test', { ...obs, env: {} });
    // The YAML document needs the YAML parser loaded first; the JSON one parses at once.
    const first = engine.apply({ text: YAML_PARSER_RULES.replace('asia.gcr.io', 'eu.gcr.io'), version: '1' });
    const second = engine.apply({ text: JSON_RULES, version: '2' });
    expect(await first).toMatchObject({ ok: true, version: '1' });
    expect(await second).toMatchObject({ ok: true, version: '2' });
    const state = engine.state();
    expect(state.ok && state.rewriter.rewrite('gcr.io/x')).toMatchObject({ kind: 'rewritten', rewritten: 'asia.gcr.io/x' });
    expect(obs.logs().map((l) => [l['message'], l['version']])).toEqual([
      ['rules loaded', '1'],
      ['rules loaded', '2'],
    ]);
  });
});
