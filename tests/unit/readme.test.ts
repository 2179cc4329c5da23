/**
 * What README.md tells users they will see. The Troubleshooting table: the symptoms it quotes are
 * what users grep their logs and kubectl's output for, so each quoted message must be one the code
 * writes (log messages are looked up in src/; the fail-open row is checked against the handler's
 * real answer and line). The SAM verification step: what kubectl prints for the demo Deployment
 * with the webhook configuration webhook-config prints by default. The output it quotes from
 * check-config and audit, character for character. The enforcement example's policy, run by a CEL
 * implementation. The in-cluster serve example's token, which must be one the API server takes, and
 * what its NetworkPolicy does not keep out. The stack parameters' tables against template.yaml (every
 * parameter, and the defaults they give), and the limits, defaults and timings the README (and
 * docs/verify.md) quotes against the constants of src/ that set them; docs/reliability.md's fuzz
 * budget against the fuzz targets' own. The options of every command it shows against help's usage,
 * and the sections that files outside src/ cite (README, "..."; docs/....md, "...") against the
 * headings of the document they name.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { Environment } from '@marcbachmann/cel-js';
import { parseAllDocuments } from 'yaml';
import { parseRules } from '../../src/config/load.js';
import { loadSources } from '../../src/config/sources.js';
import type { RulesProvider } from '../../src/config/sources.js';
import { type ReviewReport, WARNING_TARGET_LENGTH } from '../../src/core/admission.js';
import { createHandler, LAMBDA_MAX_RESULT_BYTES } from '../../src/lambda/handler.js';
import { MAX_CHECKS_PER_REVIEW } from '../../src/lambda/verify-step.js';
import { OUTCOMES, reviewFields } from '../../src/observability/telemetry.js';
import { main } from '../../src/cli/main.js';
import { DEFAULT_SCOPE, webhookConfiguration } from '../../src/cli/webhook-config.js';
import { ENVIRONMENT_SCOPE } from '../e2e/harness/webhook.js';
import { captureObservability, EVENT_TOKEN, loadEvent } from '../helpers/events.js';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { captureIo } from '../helpers/io.js';
import { loadTemplate, patternRange } from '../helpers/template.js';
import { LIST_TRIES, MAX_RETRY_WAIT_MS } from '../../src/cli/cluster.js';
import { EXAMPLE_RULES } from '../../src/cli/invoke.js';
import { main as deployRegionsMain, USAGE } from '../../scripts/deploy-regions.js';
import { PAGE_SIZE } from '../../src/cli/audit.js';
import { MAX_BODY_BYTES_LIMIT, MAX_LOG_BACKLOG_BYTES, MAX_WORKERS } from '../../src/cli/serve.js';
import { LOG_FLUSH_MS, MAX_LINE_BYTES } from '../../src/cli/log-relay.js';
import { MAX_RESTART_DELAY_MS, RESTART_DELAY_MS } from '../../src/cli/serve-workers.js';
import { DEFAULT_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS } from '../../src/cli/webhook-config.js';
import { MAX_RULES_DOCUMENT_BYTES } from '../../src/config/load.js';
import { RETRY_BASE_MS, RETRY_MAX_MS } from '../../src/config/rules-provider.js';
import { DEFAULT_TTL_SECONDS, DEFAULT_VERIFY_DEADLINE_MS, MAX_TTL_SECONDS, MAX_VERIFY_DEADLINE_MS, MIN_VERIFY_DEADLINE_MS } from '../../src/config/settings.js';
import { MIN_TOKEN_LENGTH } from '../../src/config/token-check.js';
import { CEL_MAX_EXPRESSION_SIZE, imageRegex, MATCHED_IMAGE_MAX_LENGTH, matchableImages, MAX_VOLUMES } from '../../src/core/match-conditions.js';
import { MAX_RULES } from '../../src/core/rules.js';
import { IMAGE_LISTS, WORKLOAD_TYPES } from '../../src/core/workload.js';
import { DEFAULT_MAX_BODY_BYTES as LAMBDA_MAX_BODY_BYTES } from '../../src/lambda/handler.js';
import { HEAP_PER_LIST_CHAR } from '../../src/manifests/json-list.js';
import { HEAP_PER_DOCUMENT_CHAR } from '../../src/manifests/render.js';
import { MAX_LISTED } from '../../src/observability/telemetry.js';
import { MAX_PIPELINED_REQUESTS } from '../../src/serve/connections.js';
import { DEFAULT_MAX_BODY_BYTES as SERVE_MAX_BODY_BYTES, DEFAULT_MAX_CONNECTIONS, resolveOptions } from '../../src/serve/options.js';
import { REFRESH_MS as CREDENTIALS_REFRESH_MS, RETRY_MS as CREDENTIALS_RETRY_MS } from '../../src/verify/credentials.js';
import { MAX_MANIFEST_BYTES, MAX_REDIRECTS, MAX_TOKEN_BYTES } from '../../src/verify/oci.js';
import { DEFAULTS as VERIFY } from '../../src/verify/verifier.js';
import { lacking, manifestShape, type Platform } from '../../src/verify/platform.js';

const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
const section = readme.split('\n## Troubleshooting\n')[1]?.split('\n## ')[0] ?? '';
const rows = section.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| symptom'));
/** The backticked strings of each row's symptom column. */
const symptoms = rows.map((row) => [...(row.split(' | ')[0] ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? ''));

function sources(dir: string): string {
  return readdirSync(dir, { withFileTypes: true })
    .map((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? readFileSync(join(dir, e.name), 'utf8') : ''))
    .join('\n');
}

/** Kubernetes' own words, and kubectl's warnings (checked below against the handler's answer). */
// Quoted from others: the kubelet, kubectl, and AWS's message of a ThrottlingException (which our lines carry as the error's detail).
// Other programs' words: the kubelet's, kubectl's, AWS's, the API server's (k8s.io/apiserver's
// ErrCallingWebhook) and Go's net package's.
// The API server's (Go's crypto/x509) and OpenSSL's words, quoted beside ours.
const NOT_OURS = new Set([
  'ImagePullBackOff',
  'CrashLoopBackOff',
  'Error from server (InternalError): Internal error occurred: failed calling webhook "image-rewriter.image-rewriter.io"',
  'FailedCreate',
  'kubectl apply',
  'Rate exceeded',
  'failed calling webhook',
  'connection reset by peer',
  'connect: connection refused',
  'tls: failed to verify certificate: x509: certificate signed by unknown authority',
  'certificate is valid for ..., not ...',
  'has expired',
  'ALERT_BAD_CERTIFICATE',
  'ALERT_UNKNOWN_CA',
]);

describe('README Troubleshooting', () => {
  it('has the table', () => {
    expect(rows.length).toBeGreaterThan(5);
  });

  it('quotes only log messages, fields and metrics the code writes', () => {
    const src = sources(join(REPO_ROOT, 'src'));
    const missing = symptoms.flat().filter((s) => !NOT_OURS.has(s) && !s.startsWith('Warning: ') && !src.includes(s));
    expect(missing).toEqual([]);
  });

  it('the fail-open row quotes the warning kubectl prints and the fields of the review line', async () => {
    const obs = captureObservability();
    const rules: RulesProvider = { current: () => Promise.resolve({ ok: false, reason: 'rules parameter /image-rewriter/rules could not be read (ParameterNotFound)' }) };
    const handler = createHandler({ rules, token: EVENT_TOKEN, logger: obs.logger, metrics: obs.metrics });
    const result = await handler(loadEvent('rest-pod-v1.json'));
    const warnings = (JSON.parse(result.body) as { response: { warnings?: string[] } }).response.warnings ?? [];
    const line = obs.logs().find((l) => l['message'] === 'admission reviewed') ?? {};
    const row = symptoms.find((s) => s.includes('failopen'));
    expect(row).toBeDefined();
    for (const quoted of row ?? []) {
      if (quoted.startsWith('Warning: ')) {
        const prefix = quoted.slice('Warning: '.length).replace(/\.\.\.$/, '');
        expect(warnings.some((w) => w.startsWith(prefix))).toBe(true);
      }
    }
    expect(line['outcome']).toBe('failopen');
    expect(line).toHaveProperty('rulesNotLoaded');
    expect(row).toEqual(expect.arrayContaining(['outcome', 'failopen', 'rulesNotLoaded']));
  });

  // The API server's words for API Gateway's 403 (a JSON body): client-go keeps a 403's message only
  // from a text/* body and says "unknown" otherwise (apimachinery's NewGenericServerResponse). Run
  // with the webhook client of k8s.io/apiserver 1.32.13 and 1.37.2 (webhookutil.ClientManager, as
  // the mutating dispatcher calls it) against a server answering as API Gateway does.
  it("quotes the API server's log line for API Gateway's 403 as Kubernetes writes it", () => {
    const text = readme.replace(/\s+/g, ' ');
    expect(text).not.toContain('the server does not allow access to the requested resource');
    const row = rows.find((r) => r.includes('ApiRejectedAlarm in alarm')) ?? '';
    expect(row).toContain('"failed to call webhook: unknown"');
    expect(text).toContain('"failed to call webhook: unknown": Kubernetes (1.32 and 1.37 alike) keeps the message of a 403 only from a plain-text body');
  });

  // k8s.io/apiserver's mutating dispatcher (1.32.13 and 1.37.2) counts a failed call in
  // webhook_rejection_count only when the failure policy is not Ignore; webhook_request_total gets
  // the answer's status as `code`, and for a call without an answer 503 (ServiceUnavailable) from
  // 1.34, 400 (BadRequest) in 1.32.13: tests/e2e/webhook.e2e.ts scenario 8 reads both.
  it('does not send users to rejection_count for the failures failurePolicy Ignore hides', () => {
    const row = rows.find((r) => r.startsWith('| Pods are not rewritten and nothing is logged |')) ?? '';
    expect(webhookConfiguration({ url: 'https://example.com/mutate/0123456789abcdef0123' }).webhooks[0]?.failurePolicy).toBe('Ignore');
    expect(row).toContain('`apiserver_admission_webhook_fail_open_count`, `..._request_total` by `code`');
    expect(row).toContain('503 also for a call that got no answer (from Kubernetes 1.34; 1.32 and 1.33 count such a call as 400, like a 400 the webhook answered');
    expect(row).toContain('`..._rejection_count` counts no failure under `failurePolicy: Ignore`');
  });

  // The webhook client of k8s.io/apiserver 1.32.13 and 1.37.2 run against a server answering 429
  // (API Gateway's throttling, whose default gateway response has no Retry-After) fails at once;
  // client-go waits and retries only with a Retry-After header. A call that times out logs
  // "context deadline exceeded".
  // The warning of a withheld rewrite is pinned in tests/unit/handler-verify.test.ts ("keeps the
  // original by default, and the warning says why"), in the form the row quotes.
  it("names a verify rule's withheld rewrite among the warnings of images left unchanged", () => {
    const row = rows.find((r) => r.startsWith('| kubectl prints `Warning: image-rewriter: ...` |')) ?? '';
    expect(row).toContain("or a `verify` rule's target lacks the image or could not be asked: `left containers[app] IMAGE unchanged (rule NAME): not found in HOST`");
  });

  // Reproduced with dist/handler.js, a credentials parameter answering AccessDeniedException and a
  // registry answering 401: the reason is "not checked, HOST refused access (401) to an anonymous request; registry
  // credentials unavailable: cannot read SSM parameter NAME (AccessDeniedException)" (src/verify/oci.ts).
  it("says where a failed credentials read's error shows, since it has no log line of its own", () => {
    const row = rows.find((r) => r.startsWith('| `AccessDeniedException` (or another KMS error)')) ?? '';
    expect(row).toContain('or in a `withheldImages` reason after `registry credentials unavailable`');
    expect(row).toContain('A failed read of the registry credentials has no log line of its own');
  });

  // With the default scope the API server sends Pods only: a Deployment's Pods are created by the
  // ReplicaSet controller, which gets their warnings (see "Deploying with SAM, step 3" above).
  it('does not promise a kubectl warning for the Pods a controller creates', () => {
    const row = rows.find((r) => r.startsWith('| Pods are not rewritten |')) ?? '';
    expect(webhookConfiguration({ url: 'https://example.com/mutate/0123456789abcdef0123' }).webhooks.flatMap((w) => w.rules.flatMap((r) => r.resources))).not.toContain('deployments');
    expect(row).toContain("kubectl's warning (for an object kubectl sends; the Pods of a Deployment or another controller warn that controller)");
  });

  // serve's stale rules had a metric and log lines but no row: the ConfigErrorAlarm row is the
  // Lambda's, and a new Pod that cannot start on an invalid ConfigMap was nowhere (QA-46).
  it("has a row for serve's rules file made invalid: the stale gauge, the Pods that cannot start, and check-config", () => {
    const row = rows.find((r) => (r.split(' | ')[0] ?? '').includes('`image_rewriter_rules_stale`')) ?? '';
    expect(row).toContain('`CrashLoopBackOff`');
    expect(row).toContain('`check-config --config rules.yaml`');
    expect(row).toContain('Running Pods keep their last good rules');
  });

  // failurePolicy Fail made an outage a refusal of every object, which no row named: the rows of
  // fail-open outages send users to fail_open_count, which Fail does not count (QA-46, measured on
  // kube-apiserver 1.37: a webhook that cannot be reached, rejection_count with
  // error_type="calling_webhook_error" and rejection_code="503"; 1.32.13: rejection_code="400").
  it("has a row for failurePolicy Fail's refusals, with the API server's counter and the way back", () => {
    const row = rows.find((r) => (r.split(' | ')[0] ?? '').includes('Internal error occurred: failed calling webhook')) ?? '';
    expect(row).toContain('error_type="calling_webhook_error"');
    expect(row).toContain('(its `rejection_code` 503 when no answer came, from Kubernetes 1.34; 400 on 1.32 and 1.33)');
    expect(row).toContain('"path":"/webhooks/0/failurePolicy","value":"Ignore"');
    expect(row).toContain('`audit` lists what was admitted unrewritten');
    // Helm 4.3.2 against kube-apiserver 1.37: after that kubectl patch, helm upgrade failed with
    // "Apply failed with 1 conflict: conflict with \"kubectl-patch\"" (Helm 3.21: Fail put back),
    // and so did an upgrade back to Fail after one with Ignore, which succeeded (tests/e2e/chart.e2e.ts).
    expect(row).toContain('--reuse-values --set webhook.failurePolicy=Ignore');
    expect(row).toContain('`Fail` again after an upgrade with `Ignore` included');
    expect(row).toContain('until it is given `--force-conflicts`');
  });

  it('does not give throttling as a cause of the wait of timeoutSeconds', () => {
    const row = rows.find((r) => r.startsWith('| Admissions slow')) ?? '';
    expect(row).toContain(`\`timeoutSeconds\` (${DEFAULT_TIMEOUT_SECONDS} by default)`);
    expect(row).not.toContain('throttling at API Gateway, or');
    expect(row).toContain('Throttling does not make it wait');
  });

  // A connection serve drops at once for its per-client cap fails the API server's call as EOF or
  // a reset, and the warning serve writes then is the one line that tells it from the other causes.
  it("names, among the causes of serve's EOF and resets, the warning of a connection dropped for the per-client cap", () => {
    const row = rows.find((r) => r.startsWith('| `serve` in a cluster: now and then the API server logs `failed calling webhook` with `EOF`')) ?? '';
    const connections = readFileSync(join(REPO_ROOT, 'src', 'serve', 'connections.ts'), 'utf8');
    const dropped = /level: 'warn', msg: '(connection dropped: too many connections from one client)'/.exec(connections)?.[1] ?? '(no such line in src/serve/connections.ts)';
    expect(row).toContain(`a \`${dropped}\` warning (a burst of more than ${DEFAULT_MAX_CONNECTIONS / 2} calls at once reached one worker`);
  });
});

describe('README Deploying with SAM, step 3', () => {
  it('promises no kubectl warning for the demo Deployment, which the default configuration does not send', () => {
    const step = readme.split('\n## Deploying with SAM\n')[1]?.split('kubectl apply -f nginx-gcr.yaml')[1]?.split('```')[0] ?? '';
    expect(step).toContain('# asia.gcr.io/nginx');
    const [webhook] = webhookConfiguration({ url: 'https://example.com/mutate/0123456789abcdef0123' }).webhooks;
    const resources = webhook?.rules.flatMap((r) => r.resources) ?? [];
    expect(resources).not.toContain('deployments');
    // Only an object the API server sends gets a warning that kubectl prints.
    expect(step).not.toMatch(/Warning: image-rewriter/);
  });
});

describe('README Deploying with SAM, what you need (QA-41)', () => {
  // Troubleshooting's first command is `aws logs tail`, which AWS CLI version 1 does not have
  // (`aws: error: argument operation: Invalid choice`); the requirements named no version.
  it('asks for AWS CLI version 2 when a command it gives exists in version 2 only', () => {
    const commands = readme.split('\n').filter((l) => /^\s*aws logs tail\b/.test(l));
    expect(commands.length).toBeGreaterThan(0);
    const section = (readme.split('\n## Deploying with SAM\n')[1]?.split('\n## ')[0] ?? '').replace(/\s+/g, ' ');
    expect(section).toContain('You need the AWS SAM CLI, the AWS CLI version 2');
  });
});

// The section named the chart's Secrets `<release>-tls` and `<release>-token`: a release `shop` makes
// `shop-image-rewriter-tls` (_helpers.tpl's fullname), so its `kubectl annotate secret` found nothing.
describe('README Installing serve with Helm, the names of the objects', () => {
  const section = readme.split('\n### Installing `serve` with Helm\n')[1]?.split('\n### ')[0] ?? '';
  const helpers = readFileSync(join(REPO_ROOT, 'deploy', 'chart', 'image-rewriter', 'templates', '_helpers.tpl'), 'utf8');

  it("names them by the chart's full name, as _helpers.tpl makes it, never by the release's name alone", () => {
    expect(helpers).toContain('{{- if contains $name .Release.Name }}');
    expect(helpers).toContain('{{- printf "%s-%s" .Release.Name $name');
    expect(section.replace(/\s+/g, ' ')).toContain("`<fullname>` below: the release's name when it holds `image-rewriter` (a release `image-rewriter` gets the names above), else the release's name and `-image-rewriter` (a release `shop`: `shop-image-rewriter`, `shop-image-rewriter-tls`)");
    expect(section.match(/<release>(?:-[a-z]|\.<namespace>)/g) ?? []).toEqual([]);
    expect(section).toContain('`<fullname>-tls`');
  });
});

describe('README Installing serve with Helm, the NetworkPolicy values (QA-41)', () => {
  // With networkPolicy.enabled and metrics.enabled (the default), the chart's policy admits the
  // metrics port only to networkPolicy.metricsFrom; the row named the API server's CIDRs alone, so
  // a user enabling the policy from the README lost every scrape.
  it('names networkPolicy.metricsFrom, which the chart has, next to the API server ranges', () => {
    const values = readFileSync(join(REPO_ROOT, 'deploy', 'chart', 'image-rewriter', 'values.yaml'), 'utf8');
    expect(values).toMatch(/^ {2}metricsFrom: \[\]$/m);
    const row = readme.split('\n').find((l) => l.startsWith('| `networkPolicy.enabled`')) ?? '';
    expect(row).toContain('`networkPolicy.metricsFrom`');
    expect(row).toContain('the metrics port');
  });
});

describe('README Installing serve with Helm, changing tls.mode (QA-46)', () => {
  // Helm 3.21 against kube-apiserver 1.37, cert-manager's CRDs stood in: right after the upgrade from
  // generate to certManager the Secret <release>-tls was gone and the caBundle empty. The section
  // described each mode, not the switch. Since QA-54 the chart keeps the caBundle (lookup), and the
  // Secret stays when annotated keep, with Helm 3.21 and 4.3 (tests/e2e/chart.e2e.ts).
  const helm = (readme.split('\n### Installing `serve` with Helm\n')[1]?.split('\n### ')[0] ?? '').replace(/\s+/g, ' ');
  it('says that a switch of mode has the gap of a renewal, and how to keep the Secret into certManager', () => {
    expect(helm).toContain('Changing `tls.mode` of an installed release is a renewal, with its gap');
    expect(helm).toContain('the upgrade keeps the configuration\'s `caBundle` (the generated CA');
    expect(helm).toContain('But the upgrade deletes the generated Secret `<fullname>-tls`');
    expect(helm).toContain('`kubectl -n NAMESPACE annotate secret <fullname>-tls helm.sh/resource-policy=keep`');
  });
});

describe('README Installing serve with Helm, rollbacks (QA-46)', () => {
  // helm rollback re-applies a revision as rendered (no lookup): past a change of the token in
  // token.existingSecret it puts the old path back while the restarted Pods read the Secret as it
  // is, and every call is refused (tests/e2e/chart.e2e.ts shows it with real Helm). The section
  // described upgrades and the rotation only.
  const helm = (readme.split('\n### Installing `serve` with Helm\n')[1]?.split('\n### ')[0] ?? '').replace(/\s+/g, ' ');
  it('warns that helm rollback past a token change breaks the path, and gives the upgrade that does not', () => {
    expect(helm).toContain('Rollbacks: `helm rollback` applies a revision\'s objects as they were rendered then');
    expect(helm).toContain('every call of the API server gets 401');
    expect(helm).toContain('helm get values RELEASE --namespace NAMESPACE --revision N -o yaml > previous.yaml && helm upgrade RELEASE deploy/chart/image-rewriter --namespace NAMESPACE -f previous.yaml');
  });
});

describe('README commands as a newcomer pastes them', () => {
  /** The lines of every fenced sh or bash block of a Markdown text, indented blocks included, continuations joined. */
  const shellLines = (text: string): string[] =>
    [...text.matchAll(/^ *```(?:sh|bash)\n([\s\S]*?)^ *```$/gm)].flatMap((m) => (m[1] ?? '').replaceAll('\\\n', ' ').split('\n').map((l) => l.trim()));
  /** The commands of a text's code: its shell blocks' lines and its inline code spans. */
  const commands = (text: string): string[] => [
    ...shellLines(text),
    ...[...text.replace(/```[\s\S]*?```/g, '').matchAll(/`([^`]+)`/g)].map((m) => (m[1] ?? '').replace(/\s+/g, ' ')),
  ];

  // The example of deploy:regions left its ECR ARNs' `*` unquoted: bash passes a glob that matches
  // no file as written, but zsh, macOS's default shell, stops at `no matches found` and runs nothing
  // (as bash does with failglob). Quoted strings and comments aside, no word may hold a glob character.
  it.each(['README.md', 'docs/performance.md', 'events/README.md'])('%s: no shell command, in a block or inline, has an unquoted glob character', (file) => {
    const text = readFileSync(join(REPO_ROOT, file), 'utf8');
    const unquoted = (line: string): string =>
      line
        .replace(/'[^']*'/g, "''")
        .replace(/"(?:\\.|[^"\\])*"/g, '""')
        .replace(/(^|\s)#.*$/, '');
    // Inline commands too (a table's `\|` is its cell's escape, not the shell's).
    const inline = [...text.replace(/```[\s\S]*?```/g, '').matchAll(/`((?:npm|node|image-rewriter|kubectl|helm|aws|sam|openssl|curl|docker) [^`]*)`/g)].map((m) => (m[1] ?? '').replace(/\s+/g, ' ').replaceAll('\\|', '|'));
    const lines = [...shellLines(text).filter((l) => !l.startsWith('#')), ...inline];
    expect(lines.length).toBeGreaterThan(file === 'README.md' ? 100 : 2);
    expect(lines.filter((l) => /[*?[]/.test(unquoted(l)))).toEqual([]);
  });

  // The yaml blocks are pasted into files: each must parse, and each rules document (top-level
  // `rules:`) must pass check-config, with a region's values for the ${env:...} the section says to set.
  it('every yaml block parses, and each rules document passes check-config', async () => {
    const blocks = [...readme.matchAll(/^ *```yaml\n([\s\S]*?)^ *```$/gm)].map((m) => m[1] ?? '');
    expect(blocks.length).toBeGreaterThan(15);
    expect(blocks.flatMap((b) => parseAllDocuments(b).flatMap((d) => d.errors.map((e) => `${e.message}\n${b}`)))).toEqual([]);
    const rules = blocks.filter((b) => /^rules:/m.test(b) && !/^apiVersion:/m.test(b));
    expect(rules.length).toBeGreaterThan(8);
    const dir = mkdtempSync(join(tmpdir(), 'readme-rules-'));
    const env = { AWS_REGION: 'us-west-2', AWS_ACCOUNT_ID: '123456789012', AWS_URL_SUFFIX: 'amazonaws.com' };
    const failed: string[] = [];
    for (const [i, block] of rules.entries()) {
      const file = join(dir, `rules-${String(i)}.yaml`);
      writeFileSync(file, block);
      const io = captureIo(env);
      if ((await main(['check-config', '--config', file], io)) !== 0) failed.push(`${io.err()}${block}`);
    }
    expect(failed).toEqual([]);
  });

  // The chart's webhook.matchConditions row said to copy what `webhook-config --scope SCOPE --config
  // rules.yaml` prints: without --service (or --url) that exits 64 and prints nothing.
  it("the chart's webhook.matchConditions row gives a webhook-config command that prints them", async () => {
    const row = readme.split('\n').find((l) => l.startsWith('| `webhook.matchConditions` |')) ?? '';
    const command = /`(webhook-config [^`]*)` prints/.exec(row)?.[1] ?? '';
    const args = command
      .replace('NAMESPACE/<fullname>', 'image-rewriter/image-rewriter')
      .replace('TOKEN', '0123456789abcdef')
      .replace('SCOPE', 'pods')
      .replace('rules.yaml', join(REPO_ROOT, 'tests/fixtures/valid-demo.yaml'))
      .split(' ');
    const io = captureIo({});
    expect({ args, code: await main(args, io) }).toEqual({ args, code: 0 });
    expect(io.out()).toContain('name: image-could-be-rewritten');
  });

  // `helm get values RELEASE --revision N` (the repair of a rollback) named no namespace: the chart
  // goes in a namespace of its own, and Helm looks a release up in the kubeconfig's namespace
  // (`default`), so it failed with `Error: release: not found` and the upgrade after `&&` never ran.
  it("names the namespace in every helm command on the chart's release", () => {
    const onRelease = commands(readme).flatMap((c) => [...c.matchAll(/\bhelm (?:get \w+|upgrade|rollback|uninstall|history|status|install) (RELEASE|image-rewriter)\b[^|&;]*/g)].map((m) => m[0]));
    expect(onRelease.length).toBeGreaterThan(2);
    expect(onRelease.filter((c) => !/ (?:--namespace|-n)[ =]\S/.test(c))).toEqual([]);
  });
});

describe('README Deploying with SAM, StageName (QA-46)', () => {
  // AWS::ApiGateway::Stage's StageName is create-only (cfn-lint's schema): a changed one replaces
  // the stage and the URL every cluster calls, whose 403s no alarm of the stack sees. The row said
  // only that it is part of the URL.
  it('says that changing it on a deployed stack changes the URL, to be registered again', () => {
    const row = readme.split('\n').find((l) => l.startsWith('| `StageName` |')) ?? '';
    expect(row).toContain('the stage is replaced');
    expect(row).toContain('register the new `APIGatewayURL` in every cluster');
  });
});

describe('README Metrics for Prometheus, alerts (QA-46)', () => {
  // The function had alarms for each outage; serve had metrics and one query, and no alert for a
  // stale rules file, fail-open answers, 401s, or a webhook the API server cannot call.
  const section = readme.split('\n### Metrics for Prometheus: `serve --metrics-listen`\n')[1]?.split('\n### ')[0] ?? '';
  const block = /\nAlerts, [\s\S]*?```yaml\n([\s\S]*?)```/.exec(section)?.[1] ?? '';

  it('gives an alert for fail-open answers, stale rules, 401s, the certificate about to expire, workers that died and failed calls', () => {
    const alerts = (parseAllDocuments(block)[0]?.toJS() ?? []) as { alert: string; expr: string }[];
    expect(alerts.map((a) => a.alert)).toEqual(['ImageRewriterFailOpen', 'ImageRewriterRulesStale', 'ImageRewriterAuthFailures', 'ImageRewriterCertificateExpiry', 'ImageRewriterWorkerDied', 'ImageRewriterNotCalled']);
  });

  it('names only metrics serve writes, outcomes it counts, and the API server metrics measured on kube-apiserver 1.37', () => {
    const src = sources(join(REPO_ROOT, 'src'));
    const ours = [...block.matchAll(/\b(image_rewriter_[a-z_]+)/g)].map((m) => m[1] ?? '');
    expect(ours.length).toBe(5);
    expect(ours.filter((m) => !src.includes(`'${m}'`))).toEqual([]);
    const outcomes = /outcome=~"([^"]+)"/.exec(block)?.[1]?.split('|') ?? [];
    expect(outcomes.filter((o) => !(OUTCOMES as readonly string[]).includes(o))).toEqual([]);
    // The counters a failed call moves, Ignore and Fail (measured on kube-apiserver 1.37 with a webhook that cannot be reached).
    expect(block).toContain('apiserver_admission_webhook_fail_open_count{name="image-rewriter.image-rewriter.io"}');
    expect(block).toContain('apiserver_admission_webhook_rejection_count{name="image-rewriter.image-rewriter.io",error_type="calling_webhook_error"}');
  });
});

describe('README Wiring it to EKS, sizing the throttling limits', () => {
  // It said every Pod, ReplicaSet and Deployment is one request; the default scope sends Pods only.
  it('counts as one request each kind the configuration sends, by scope', () => {
    const wiring = (readme.split('\n## Wiring it to EKS (or any cluster)\n')[1]?.split('\n### ')[0] ?? '').replace(/\s+/g, ' ');
    const [, byDefault = '', withAll = ''] = /every ([A-Za-z, ]+?) created or updated is one request \(with `--scope all`, every ([A-Za-z, ]+?) too\)/.exec(wiring) ?? [];
    const kinds = (text: string): string[] => text.split(/, | and /).map((k) => `${k.toLowerCase()}s`);
    const resources = (scope: 'pods' | 'all'): string[] => webhookConfiguration({ url: 'https://example.com/mutate/0123456789abcdef0123', scope }).webhooks.flatMap((w) => w.rules.flatMap((r) => r.resources));
    expect(kinds(byDefault)).toEqual(resources(DEFAULT_SCOPE).filter((r) => !r.includes('/')));
    for (const kind of kinds(withAll)) {
      expect(resources('all')).toContain(kind);
      expect(resources(DEFAULT_SCOPE)).not.toContain(kind);
    }
  });
});

describe('README opening, what the API server sends', () => {
  // It said every Pod and workload; the default configuration sends Pods only.
  it('names the workloads as sent with --scope all only', () => {
    const opening = (readme.split('\n## Contents\n')[0] ?? '').replace(/\s+/g, ' ');
    const resources = (scope: 'pods' | 'all'): string[] => webhookConfiguration({ url: 'https://example.com/mutate/0123456789abcdef0123', scope }).webhooks.flatMap((w) => w.rules.flatMap((r) => r.resources));
    expect(DEFAULT_SCOPE).toBe('pods');
    expect(resources(DEFAULT_SCOPE)).not.toContain('deployments');
    expect(resources('all')).toContain('deployments');
    expect(opening).toContain('the API server sends it every Pod (with `--scope all`, every workload too) before storing it');
  });
});

describe('README npm run demo', () => {
  it('names the scope the demo registers, which rewrites the Deployment template the default leaves alone', () => {
    const demo = readme.split('\n## Try it against a real API server: `npm run demo`\n')[1]?.split('\n## ')[0] ?? '';
    expect(demo).toContain("in the Deployment's template");
    expect(demo.replace(/\s+/g, ' ')).toContain(`image-rewriter webhook-config --scope ${ENVIRONMENT_SCOPE}`);
    const resources = (scope: 'pods' | 'all'): string[] => webhookConfiguration({ url: 'https://example.com/mutate/0123456789abcdef0123', scope }).webhooks.flatMap((w) => w.rules.flatMap((r) => r.resources));
    expect(resources(ENVIRONMENT_SCOPE)).toContain('deployments');
    expect(resources(DEFAULT_SCOPE)).not.toContain('deployments');
    expect(demo.replace(/\s+/g, ' ')).toContain(`default you register on a real cluster, \`--scope ${DEFAULT_SCOPE}\``);
  });
});

describe('README Rewrite before apply, Argo CD ignoreDifferences', () => {
  const gitops = readme.split('\n## Rewrite before apply (GitOps, Helm)\n')[1]?.split('\n## ')[0] ?? '';
  const block = [...gitops.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? '').find((b) => b.includes('ignoreDifferences:')) ?? '';
  const entries = (parseAllDocuments(block)[0]?.toJS() as { spec?: { ignoreDifferences?: { group: string; kind: string; jqPathExpressions: string[] }[] } } | undefined)?.spec?.ignoreDifferences ?? [];

  it("the Scope table's GitOps row does not promise the default scope stores everything as applied: it registers Pods, which git may hold", () => {
    const row = readme.split('\n').find((l) => l.startsWith('| GitOps (Argo CD, Flux) |')) ?? '';
    const pods = row.split(' | ')[1] ?? '';
    const resources = webhookConfiguration({ url: 'https://example.com/mutate/0123456789abcdef0123', scope: 'pods' }).webhooks.flatMap((w) => w.rules.flatMap((r) => r.resources));
    expect(resources).toContain('pods');
    expect(pods).toContain('Pods kept in Git (a bare Pod, not a template) are rewritten in either scope');
  });

  it('ignores, for every kind the webhook rewrites, each image field a pod spec in git can have', () => {
    // Checked with gojq (what Argo CD runs, as del(EXPR)) on the live objects of a real API server.
    // `kubectl debug`'s ephemeral containers are never in git; containers is the one list a pod
    // spec always has: `[]` on an absent list fails the expression (Argo CD skips it and logs).
    const fields = IMAGE_LISTS.filter((l) => l !== 'ephemeralContainers').map((l) => `${l}${l === 'containers' ? '[]' : '[]?'}.${l === 'volumes' ? 'image.reference' : 'image'}`);
    const expected = WORKLOAD_TYPES.map((t) => ({ group: t.group, kind: t.kind, jqPathExpressions: fields.map((f) => `.${t.podSpecPath.join('.')}.${f}`) }));
    const byKind = (a: { kind: string }, b: { kind: string }): number => a.kind.localeCompare(b.kind);
    expect([...entries].sort(byKind)).toEqual([...expected].sort(byKind));
  });

  // Checked with Argo CD v3.6.2's own sync (gitops-engine's kubectl ResourceOperations) and
  // comparison (util/argo/diff.StateDiffs) against a real API server and serve: after a sync made
  // while the webhook was down, a client-side sync of the unchanged manifest is "unchanged" (no
  // request, so no rewrite): the default diff says Synced, Server-Side Diff OutOfSync; a
  // server-side apply sync (as Flux's apply after its dry run) moves the object back to its target.
  // Argo CD v3.6.2 controller/state.go useDiffCache: "serverSideDiff should still use cache even if
  // status is expired"; util/argo/diff.StateDiffs then reuses the cached diff of each object whose
  // resourceVersion is unchanged (run against a real API server and serve: no dry run, and a rules
  // change stays unseen until a comparison without the cache).
  it('does not promise a dry run at every Argo CD refresh: its periodic refresh reuses the cached Server-Side Diff', () => {
    const text = readme.replace(/\s+/g, ' ');
    expect(text).not.toContain('each refresh is then a dry-run call');
    expect(text).not.toContain("Argo CD's and Flux's drift checks, which with `--scope all` review every object at every reconcile");
    expect(text).toContain('its periodic refresh reuses the cached diff of each object that has not changed since, so a rules change shows only at a refresh you request');
  });

  it('does not promise that Argo CD\'s default client-side sync moves an object back after an outage', () => {
    const text = gitops.replace(/\s+/g, ' ');
    expect(text).toContain('That takes a sync that sends the object.');
    expect(text).toContain('not with its default client-side `kubectl apply`, which sends nothing for an object whose three-way merge finds no change');
    expect(text).toContain('One sync with server-side apply (`argocd app sync --server-side`, or that sync option) moves it back.');
  });
});

describe('README Rolling back a bad rules document, what the rolled-back rules admitted (QA-46)', () => {
  // After a rollback of the rules the objects admitted under the newer ones keep its target; the
  // section said only when the function takes the old version, and audit, the tool the README
  // gives for what is left to do, passes such a cluster (exit 0).
  const section = (readme.split('\n#### Rolling back a bad rules document\n')[1]?.split('\n### ')[0] ?? '').replace(/\s+/g, ' ');
  const originals = JSON.stringify({ 'containers/web': 'gcr.io/x:1' });
  const image = 'mirror-b.example.com/gcr/x:1';
  const listed = {
    kind: 'List',
    items: [
      { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'shop', annotations: { 'image-rewriter.io/original-images': originals } }, spec: { selector: {}, template: { spec: { containers: [{ name: 'web', image }] } } } },
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1', namespace: 'shop', annotations: { 'image-rewriter.io/original-images': originals } }, spec: { containers: [{ name: 'web', image }] }, status: { phase: 'Running' } },
    ],
  };

  it('audit passes objects holding the target of a rule rolled back, as the section says', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'readme-'));
    writeFileSync(join(dir, 'rules.yaml'), 'rules:\n  - name: gcr-a\n    match: gcr.io\n    replace: mirror-a.example.com/gcr\n');
    writeFileSync(join(dir, 'live.json'), JSON.stringify(listed));
    const io = captureIo({});
    expect(await main(['audit', '--config', join(dir, 'rules.yaml'), '-f', join(dir, 'live.json')], io)).toBe(0);
    expect(section).toContain('`audit` does not list them');
  });

  it("the jq that finds them looks at image volumes' references too, not only at the containers' image strings", () => {
    // `.image? | strings` alone skipped a Pod whose image volume (volumes[].image.reference) holds the
    // target: its `.image` is an object (checked with jq against kube-apiserver 1.37).
    expect(section).toContain('[.. | objects | (.image?, .image?.reference?) | strings | select(startswith($t))]');
  });

  it('says how to find them and how each kind is rewritten again', () => {
    expect(section).toContain('What was admitted under the version rolled back keeps the images it gave');
    expect(section).toContain('T=mirror-b.example.com/');
    expect(section).toContain('keeps its image through a restart');
    expect(section).toContain('apply its manifest again');
  });
});

describe("README The command line, explain's stdin example", () => {
  it('feeds explain every image field of a Pod, an image volume\'s reference included, not {..image}, which gives that volume\'s map', () => {
    const example = /`(kubectl get pods -A -o jsonpath='[^']+') \\\| image-rewriter explain --config rules\.yaml -`/.exec(readme)?.[1] ?? '';
    expect(example).not.toContain('{..image}');
    for (const list of IMAGE_LISTS) expect(example).toContain(`{.items[*].spec.${list}[*].${list === 'volumes' ? 'image.reference' : 'image'}}`);
  });
});

describe("README The command line, serve's stdout", () => {
  it('quotes the one line serve writes on stdout once it listens, as src/cli/serve.ts writes it', () => {
    const quoted = /Its stdout is one line, once it listens: `(\{[^`]+\})`/.exec(readme)?.[1] ?? '';
    expect(Object.keys(JSON.parse(quoted) as object)).toEqual(['msg', 'address', 'port']);
    expect(JSON.parse(quoted)).toMatchObject({ msg: 'listening' });
    expect(readFileSync(join(REPO_ROOT, 'src', 'cli', 'serve.ts'), 'utf8')).toContain("JSON.stringify({ msg: 'listening', address: server.address, port: server.port })");
  });
});

describe('README Development, what the suites need', () => {
  const development = readme.split('\n## Development\n')[1] ?? '';

  it("names every command .ci/run checks for or installs before npm run test:all (cmake, g++, Python's venv were in none)", () => {
    const ci = readFileSync(join(REPO_ROOT, '.ci', 'run'), 'utf8');
    const pairs = /for pair in ([^;]+); do/.exec(ci)?.[1]?.trim().split(/\s+/) ?? [];
    const tools = [...pairs.map((pair) => pair.split(':')[0] ?? ''), ...[...ci.matchAll(/\|\| need\+=\(([\w-]+)\)/g)].map((m) => m[1] ?? '')];
    expect(tools).toEqual(expect.arrayContaining(['cmake', 'g++', 'python3', 'python3-venv']));
    expect(ci).toContain('command -v go');
    expect(tools.filter((tool) => !development.includes(`\`${tool}\``) && !(tool.startsWith('python3') && development.includes('Python 3.11')))).toEqual([]);
  });

  // It asked for Go 1.26, while the Lambda emulator's module (hack/lambda/go.mod, as the emulator's own
  // go.mod requires) needs 1.26.6: hack/lib/go-build.sh builds with GOTOOLCHAIN=local, so an older Go stops.
  // A module whose build.sh names its own toolchain (hack/gitops-oracle: Argo CD 3.6 requires Go 1.27,
  // which the go command takes from the module proxy) is left out, and the README must say so.
  it('asks for the Go the most demanding module under hack/ names, for test:all and for the tools it builds', () => {
    const goMods = (dir: string): string[] => readdirSync(join(REPO_ROOT, dir), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? goMods(`${dir}/${e.name}`) : e.name === 'go.mod' ? [`${dir}/${e.name}`] : []));
    const ownToolchain = (goMod: string): string | undefined => {
      const script = join(REPO_ROOT, goMod.replace(/go\.mod$/, 'build.sh'));
      return existsSync(script) ? /^export GOTOOLCHAIN=(go[\d.]+)$/m.exec(readFileSync(script, 'utf8'))?.[1] : undefined;
    };
    const pinned = goMods('hack').filter((f) => ownToolchain(f) !== undefined);
    expect(pinned).toEqual(['hack/gitops-oracle/go.mod']);
    for (const f of pinned) expect(development.replace(/\s+/g, ' ')).toContain(`\`${f.replace(/go\.mod$/, 'build.sh')}\`, whose ${ownToolchain(f) ?? ''}`);
    const versions = goMods('hack').filter((f) => ownToolchain(f) === undefined).map((f) => /^go (\S+)$/m.exec(readFileSync(join(REPO_ROOT, f), 'utf8'))?.[1] ?? '');
    const order = (a: string, b: string): number => {
      const [x, y] = [a.split('.').map(Number), b.split('.').map(Number)];
      for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
      return 0;
    };
    const newest = [...versions].sort(order).at(-1) ?? '';
    expect(versions.length).toBeGreaterThan(5);
    const text = development.replace(/\s+/g, ' ');
    expect(text).toContain(`checks for or installs: Go ${newest} or newer`);
    expect(text).toContain(`the Go ones need Go ${newest} or newer`);
  });

  it('names every npm script, but the type check, lint and unit tests that npm test runs', () => {
    const scripts = Object.keys((JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts);
    expect(scripts.filter((name) => !new RegExp(`npm (run )?${name.replace(/[:.]/g, '\\$&')}(?![\\w:-])`).test(readme))).toEqual(['typecheck', 'lint', 'test:unit']);
  });

  it('names no npm script package.json lacks, nor do the docs, the events README and the chart notes', () => {
    const scripts = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    const files = ['README.md', 'docs/design.md', 'docs/performance.md', 'docs/reliability.md', 'docs/verify.md', 'events/README.md', 'deploy/chart/image-rewriter/templates/NOTES.txt'];
    const named = files.flatMap((file) => [...readFileSync(join(REPO_ROOT, file), 'utf8').matchAll(/npm run ([a-z][\w:.-]*[\w])/g)].map((m) => `${file}: ${m[1] ?? ''}`));
    expect(named.length).toBeGreaterThan(30);
    expect(named.filter((n) => !Object.hasOwn(scripts, n.split(': ')[1] ?? ''))).toEqual([]);
  });
});

describe('README Deploying to several regions', () => {
  const section = readme.split('\n### Deploying to several regions\n')[1]?.split('\n### ')[0] ?? '';

  it("names every option of deploy:regions' usage (--cli was in none)", () => {
    const options = [...USAGE.matchAll(/--[a-z][a-z-]*/g)].map((m) => m[0]);
    expect(options).toContain('--cli');
    expect(options.filter((o) => !new RegExp(`${o}(?![a-z-])`).test(section))).toEqual([]);
  });

  // The report it shows per region, `...` standing for what it leaves out, is what the command prints
  // for the stack's outputs (sam and aws faked).
  it('shows the report the command prints for a region', async () => {
    const shown = /^```\n(us-west-2\n[\s\S]*?)\n```$/m.exec(section)?.[1] ?? '';
    expect(shown).toContain('register the webhook in each us-west-2 cluster:');
    const url = /URL \(without its token\): (\S+)/.exec(shown)?.[1] ?? '';
    const parameter = /token: SSM SecureString (\S+)/.exec(shown)?.[1] ?? '';
    const outputs = JSON.stringify([{ OutputKey: 'APIGatewayURL', OutputValue: url }, { OutputKey: 'WebhookTokenParameter', OutputValue: parameter }]);
    const printed: string[] = [];
    const files: Record<string, string> = { 'template.yaml': readFileSync(join(REPO_ROOT, 'template.yaml'), 'utf8'), 'rules.yaml': 'rules: [{name: gcr, match: gcr.io, replace: asia.gcr.io}]\n' };
    const code = await deployRegionsMain(['--regions', 'us-west-2', '--rules', 'rules.yaml', '--no-build'], {
      run: (command) => Promise.resolve({ status: 0, stdout: command === 'aws' ? outputs : '', stderr: '' }),
      readFile: (path) => files[path] ?? '',
      out: (l) => printed.push(l),
      err: (l) => printed.push(l),
    });
    expect(code).toBe(0);
    const pattern = shown.split('...').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*?');
    expect(printed.join('\n')).toMatch(new RegExp(`^${pattern}$`, 'm'));
  });
});

describe('README Find what still pulls from upstream, the ClusterRole bound by a RoleBinding', () => {
  const section = (readme.split('\n## Find what still pulls from upstream\n')[1]?.split('\n## ')[0] ?? '').replace(/\s+/g, ' ');

  it('does not promise a note line for the configuration a RoleBinding cannot grant: audit falls back silently unless it is named (audit.test.ts)', () => {
    expect(section).not.toContain('falls back, with its `note:` line');
    expect(section).toContain('a RoleBinding cannot grant the cluster-scoped webhook configuration, so audit then falls back as when it is not installed, with no `note:` line unless you give `--webhook-config NAME`');
  });
});

describe('README and template.yaml, empty stack parameter values', () => {
  // A bare `Key=""` loses its quotes to the shell, and SAM CLI 1.170 refuses `Key=` ("Key= is not a
  // valid format"). Typed for sam deploy it must be single-quoted; deploy:regions' --parameter adds
  // the quotes back itself (scripts/deploy-regions.ts).
  const bare = (text: string): string[] =>
    [...text.matchAll(/(\S*)\b([A-Z][A-Za-z]+)=""(\S*)/g)].map((m) => m[0]).filter((w) => !/^`?'[A-Za-z]+=""'/.test(w));

  it('README gives every empty value for sam deploy in single quotes', () => {
    const words = readme.replace(/```[\s\S]*?```/g, '').split(/\s+/);
    expect(words.filter((_, i) => !(words[i - 1] ?? '').endsWith('--parameter')).flatMap((w) => bare(w))).toEqual([]);
  });

  it("template.yaml's rule messages give them in single quotes", () => {
    const text = readFileSync(join(REPO_ROOT, 'template.yaml'), 'utf8');
    const messages = text.split('\n').filter((l) => l.includes('AssertDescription:') && l.includes('=""'));
    expect(messages.length).toBeGreaterThan(0);
    expect(messages.flatMap((l) => l.split(/\s+/)).flatMap((w) => bare(w))).toEqual([]);
  });
});

describe('README Rules in SSM Parameter Store, ${env:...} documents', () => {
  const section = readme.split('\n### Rules in SSM Parameter Store\n')[1]?.split('\n### ')[0] ?? '';
  const command = /`((?:[A-Z_]+=\S+ )+)node dist\/cli\.js (check-config --config rules\.yaml)`/.exec(section.replace(/\s*\n\s*/g, ' '));
  const document = 'rules:\n  - name: hub\n    match: docker.io\n    replace: ${env:AWS_ACCOUNT_ID}.dkr.ecr.${env:AWS_REGION}.${env:AWS_URL_SUFFIX}/docker-hub\n';

  it('check-config reports the variables unset in the shell, as the section says', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'readme-')), 'rules.yaml');
    writeFileSync(file, document);
    const io = captureIo({});
    expect(await main(['check-config', '--config', file], io)).toBe(2);
    const quoted = /\(`(environment variable AWS_ACCOUNT_ID is not set)`\)/.exec(section.replace(/\s*\n\s*/g, ' '))?.[1];
    expect(quoted).toBeDefined();
    expect(io.err()).toContain(quoted ?? '-');
  });

  it('the command it gives, with its variables, accepts the document', async () => {
    expect(command).not.toBeNull();
    const env = Object.fromEntries((command?.[1] ?? '').trim().split(' ').map((w) => w.split('=') as [string, string]));
    expect(Object.keys(env).sort()).toEqual(['AWS_ACCOUNT_ID', 'AWS_REGION', 'AWS_URL_SUFFIX']);
    const file = join(mkdtempSync(join(tmpdir(), 'readme-')), 'rules.yaml');
    writeFileSync(file, document);
    const io = captureIo(env);
    expect(await main([...(command?.[2] ?? '').split(' ').slice(0, -1), file], io)).toBe(0);
  });
});

describe('README LogLevel row and Costs per million admissions', () => {
  it('gives the share of the log volume WARN drops as the costs section measures it', () => {
    const costs = (readme.split('\n### Costs per million admissions\n')[1]?.split('\n## ')[0] ?? '').replace(/\s+/g, ' ');
    const info = Number(/about ([\d.]+) KB per review at `LogLevel=INFO`/.exec(costs)?.[1]);
    const warn = Number(/or about ([\d.]+) KB \(\$[\d.]+\) at `WARN`/.exec(costs)?.[1]);
    const row = readme.split('\n').find((l) => l.startsWith('| `LogRetentionInDays` / `LogLevel` |')) ?? '';
    const said = /drops the per-review lines \(about ([^:)]+?) of the log volume/.exec(row)?.[1] ?? '';
    const share = said === 'two thirds' ? 2 / 3 : said === 'half' ? 1 / 2 : Number(said.replace('%', '')) / 100;
    expect(info).toBeGreaterThan(0);
    expect(Math.abs(share - (1 - warn / info))).toBeLessThan(0.04);
  });
});

describe('README Costs per million admissions, the arithmetic', () => {
  const costs = (readme.split('\n### Costs per million admissions\n')[1]?.split('\n## ')[0] ?? '').replace(/\s+/g, ' ');
  const num = (s: string | undefined): number => Number((s ?? '').replace(/,/g, ''));
  const requests = [...costs.matchAll(/\| ([^|]+?) requests \| ([\d,]+) × \$([\d.]+) \/ ([\d,]+) \| \$([\d.]+) \|/g)];
  const compute = [...costs.matchAll(/\| Lambda compute, ([^|]+?), (\d+) ms \| ([\d,]+) × ([\d.]+) s × ([\d.]+) GB = ([\d,]+) GB-s × \$([\d.]+) \| \$([\d.]+) \|/g)];
  it('recomputes every row, the total and the share of API Gateway', () => {
    expect(requests).toHaveLength(2);
    expect(compute.map((c) => c[1])).toEqual(['warm reviews', 'cold starts']);
    for (const [, , n, price, per, total] of requests) expect(((num(n) * num(price)) / num(per)).toFixed(2)).toBe(total);
    for (const [, , ms, n, s, gb, gbs, price, total] of compute) {
      expect(num(s) * 1000).toBeCloseTo(num(ms), 9);
      expect(num(n) * num(s) * num(gb)).toBeCloseTo(num(gbs), 6);
      const cost = num(gbs) * num(price);
      expect(Math.abs(cost - num(total)) / cost).toBeLessThan(0.05);
    }
    const sum = [...requests.map((r) => num(r[5])), ...compute.map((c) => num(c[6]) * num(c[7]))].reduce((a, b) => a + b, 0);
    expect(costs).toContain(`**total** | | **$${sum.toFixed(2)}**`);
    const gateway = num(requests.find((r) => r[1] === 'API Gateway REST')?.[5]);
    const share = Number(/API Gateway is over (\d+)% of it/.exec(costs)?.[1]);
    expect(gateway / sum).toBeGreaterThan(share / 100);
  });
  it('bills the measured warm duration and cold start at 256 MB, the template default, rounded up', () => {
    const [, low, high, billed] = /billed ([\d.]+) to ([\d.]+) ms on average over several runs .*?: (\d+) ms below/.exec(costs) ?? [];
    expect(num(low)).toBeLessThan(num(high));
    expect(Math.ceil(num(high))).toBe(num(billed));
    expect(compute[0]?.[2]).toBe(billed);
    const [, cold] = /the token in SSM as the template deploys it, about ([\d.]+) s/.exec(costs) ?? [];
    expect(num(compute[1]?.[4])).toBe(num(cold));
    const [, perHundred] = /one cold start per ([\d,]+) admissions/.exec(costs) ?? [];
    expect(num(compute[1]?.[3]) * num(perHundred)).toBe(num(compute[0]?.[3]));
    expect(costs).toContain('arm64, 256 MB');
    expect(readFileSync(join(REPO_ROOT, 'template.yaml'), 'utf8')).toMatch(/^ {2}MemorySize:\n(?: {4}.*\n)*? {4}Default: '256'$/m);
  });
  it('adds up the log volume per review and prices it at $0.50 per GB', () => {
    const [, total, line, emf, platform] = /about ([\d.]+) KB per review at `LogLevel=INFO` \(the review's line about ([\d.]+) KB and the EMF document about ([\d.]+) KB .*?`REPORT` lines about ([\d.]+) KB\)/.exec(costs) ?? [];
    const m = /i\.e\. ([\d.]+) GB, \$([\d.]+) per million, or about ([\d.]+) KB \(\$([\d.]+)\) at `WARN`/.exec(costs) ?? [];
    expect(num(line) + num(emf) + num(platform)).toBeCloseTo(num(total), 9);
    expect(num(m[1])).toBeCloseTo(num(total), 9);
    expect(num(m[2])).toBeCloseTo(num(m[1]) * 0.5, 9);
    expect(num(m[4])).toBeCloseTo(num(m[3]) * 0.5, 9);
    expect(num(m[3])).toBeCloseTo(num(emf) + num(platform), 9);
  });
});

describe('README Costs per million admissions, the alarms', () => {
  it("counts the metrics the template's alarms read, which CloudWatch bills one by one (the latency alarm's percentile was said to cost $0.30)", () => {
    const alarms = Object.values(loadTemplate().Resources).filter((r) => r.Type === 'AWS::CloudWatch::Alarm');
    const metrics = alarms.map((a) => ('MetricName' in a.Properties ? 1 : (a.Properties['Metrics'] as Record<string, unknown>[]).filter((m) => 'MetricStat' in m).length));
    const total = metrics.reduce((a, b) => a + b, 0);
    const costs = (readme.split('\n### Costs per million admissions\n')[1]?.split('\n## ')[0] ?? '').replace(/\s+/g, ' ');
    expect(costs).toContain(`${total} metrics in the template's ${alarms.length} alarms, about $${(total * 0.1).toFixed(2)} a month`);
    expect(costs).not.toContain('percentile $0.30');
  });
});

describe('README Restricting callers by address, the NAT gateway snippet', () => {
  const section = readme.split('\n### Restricting callers by address: `AllowedSourceCidrs`\n')[1]?.split('\n### ')[0] ?? '';
  const snippet = section.split('```sh\n')[1]?.split('```')[0] ?? '';
  /** The snippet under bash with `aws` stubbed: route tables answer `nats`; returns the aws calls made. */
  const run = (nats: string): string[] => {
    const stub = `aws() { echo "$*" >&2; case "$2" in describe-cluster) printf 'subnet-1\\tsubnet-2\\n';; describe-route-tables) printf '%s' ${JSON.stringify(nats)};; esac; }\n`;
    const r = spawnSync('bash', ['-c', stub + snippet], { encoding: 'utf8' });
    expect(r.error).toBeUndefined();
    // Not bash's own warning where LC_ALL names a locale the machine lacks (a contributor's LANG).
    return r.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('bash: warning: setlocale: ')).map((l) => l.split(' ').slice(0, 2).join(' '));
  };

  it('asks for the NAT gateways of the route tables it found', () => {
    expect(snippet).toContain('describe-nat-gateways');
    expect(run('nat-0a\nnat-0b\n')).toEqual(['eks describe-cluster', 'ec2 describe-route-tables', 'ec2 describe-nat-gateways']);
  });

  it('does not call describe-nat-gateways without ids, which lists every NAT gateway of the region', () => {
    expect(run('')).toEqual(['eks describe-cluster', 'ec2 describe-route-tables']);
  });
});

describe('README Rotating the token', () => {
  it('sets every shell variable its commands use, there or in step 1 of Deploying with SAM', () => {
    // Up to the next heading: the sections after it are not its commands ($LATEST.PUBLISHED is a version).
    const section = readme.split('\n### Rotating the token\n')[1]?.split(/\n##+ /)[0] ?? '';
    const used = new Set([...section.matchAll(/\$\{?([A-Z_][A-Z0-9_]*)\}?/g)].map((m) => m[1] ?? ''));
    const assigned = new Set([...readme.matchAll(/(?:^|[\s`(])([A-Z_][A-Z0-9_]*)=\$\(/gm)].map((m) => m[1] ?? ''));
    expect([...used].filter((v) => !assigned.has(v))).toEqual([]);
  });

  // Step 2 said a new environment's log starts with the `configuration` line; `rules loaded` comes first.
  it("step 2 names the lines a new environment's log starts with, in their order", async () => {
    const section = (readme.split('\n### Rotating the token\n')[1]?.split('\n### ')[0] ?? '').replace(/\s+/g, ' ');
    const sentence = /each starts with ([^()]*?)\)/.exec(section)?.[1] ?? '';
    const said = [...sentence.matchAll(/`([a-z ]+)` line/g)].map((m) => m[1]);
    const obs = captureObservability();
    const noAws = (): Promise<never> => Promise.reject(new Error('no AWS here'));
    const sources = await loadSources({ REWRITE_RULES: 'rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n', WEBHOOK_TOKEN: `${EVENT_TOKEN},old-token-0123456789abcdef` }, { ...obs, ssm: noAws, secretsManager: noAws });
    await createHandler({ rules: sources.rules, token: sources.token, logger: obs.logger, metrics: obs.metrics })(loadEvent('rest-pod-v1.json'));
    const logs = obs.logs();
    expect(said).toEqual(logs.slice(0, said.length).map((l) => l['message']));
    expect(logs.find((l) => l['message'] === 'configuration')?.['tokens']).toBe(2);
  });
});

describe('README Running serve in a cluster', () => {
  const section = readme.split('\n### Running `serve` in a cluster: admit only the API server\n')[1]?.split('\n### ')[0] ?? '';
  const block = section.split('```bash\n')[1]?.split('\n```')[0] ?? '';

  it('makes the token it registers, in a form the API server takes as a Service path segment', async () => {
    const made = /^WEBHOOK_TOKEN=\$\(openssl rand -hex (\d+)\)/m.exec(block);
    expect(made).not.toBeNull();
    // openssl rand -hex N: 2N lower-case hex digits; webhook-config --service refuses what the API server would.
    const token = 'a0'.repeat(Number(made?.[1]));
    const command = /^image-rewriter (webhook-config --service \S+) --token "\$WEBHOOK_TOKEN"/m.exec(block)?.[1]?.split(' ') ?? [];
    expect(command).toEqual(['webhook-config', '--service', 'image-rewriter/image-rewriter']);
    const io = captureIo();
    expect(await main([...command, '--token', token], io)).toBe(0);
    // The stack's tokens (base64url) are not: the README says so.
    expect(await main([...command, '--token', 'Xk3vQ9zLmN2pR7sT0uWyAb'], captureIo())).toBe(64);
    expect(section.replace(/\s+/g, ' ')).toContain("a base64url token, such as the stack's, is refused by `webhook-config --service`");
  });

  // Run in order against a new cluster (a real kube-apiserver), the block's first `kubectl -n
  // image-rewriter create secret` failed: namespaces "image-rewriter" not found.
  it('creates the namespace before it puts anything in it', () => {
    const lines = block.split('\n');
    const created = lines.findIndex((l) => /^kubectl create namespace image-rewriter$/.test(l));
    const firstUse = lines.findIndex((l) => /^kubectl\b.*(-n |--namespace[ =])image-rewriter\b/.test(l));
    expect(firstUse).toBeGreaterThan(-1);
    expect(created).toBeGreaterThan(-1);
    expect(created).toBeLessThan(firstUse);
  });

  // On EKS the control plane's interfaces share the cluster's subnets with the nodes, and so with
  // their Pods (VPC CNI): "the cluster's subnets and nothing else" let those Pods in too; and the
  // VPC CNI enforces no NetworkPolicy unless its network policy feature is on.
  it('does not promise that an ipBlock of the cluster subnets keeps Pods out, nor that the policy is enforced by default', () => {
    const text = section.replace(/\s+/g, ' ');
    expect(text).not.toContain('admits those address ranges on the webhook port and nothing else');
    expect(text).toContain('an `ipBlock` of those subnets can then admit those Pods as well');
    expect(text).toContain('`enableNetworkPolicy: "true"`');
    const policy = parseAllDocuments(section.split('```yaml\n')[1]?.split('\n```')[0] ?? '').map((d) => d.toJS() as { kind?: string; spec?: { ingress?: { from?: { ipBlock?: { cidr?: string } }[] }[] } });
    expect(policy[0]?.kind).toBe('NetworkPolicy');
    expect(policy[0]?.spec?.ingress?.[0]?.from?.every((f) => typeof f.ipBlock?.cidr === 'string')).toBe(true);
  });

  // Kubernetes lets a Pod's own node reach it whatever the NetworkPolicy (its documentation:
  // "traffic to and from the node where a Pod is running is always allowed"; the VPC CNI's policy
  // agent allows the node's address likewise): the kubelet's probes need no rule. An ipBlock of the
  // nodes' range would admit, on EKS, every Pod (they take their addresses from the nodes' subnets).
  it('does not tell users to admit the nodes\' range for the kubelet\'s probes, which would admit Pods as well', () => {
    const text = section.replace(/\s+/g, ' ');
    expect(text).not.toMatch(/add the nodes' range/);
    expect(text).toContain('the kubelet\'s probes need no rule of their own');
  });
});

/** The fenced block that follows `after` in the README. */
function blockAfter(after: string): string {
  const rest = readme.split(after)[1] ?? '';
  return rest.slice(rest.indexOf('```\n') + 4).split('\n```')[0] ?? '';
}

describe('README quoted command output', () => {
  it('Quick start: explain prints the quoted lines for the demo rules', async () => {
    const quick = readme.split('\n## Quick start\n')[1]?.split('\n## ')[0] ?? '';
    const command = /^node dist\/cli\.js (explain .*)$/m.exec(quick)?.[1] ?? '';
    const quoted = [...quick.matchAll(/^# (\{.*\})$/gm)].map((m) => m[1] ?? '');
    expect(quoted.length).toBeGreaterThan(0);
    const io = captureIo({});
    const args = command.split(/\s+/).map((a) => (a === 'tests/fixtures/valid-demo.yaml' ? join(REPO_ROOT, a) : a));
    expect(await main(args, io)).toBe(0);
    expect(io.out()).toBe(`${quoted.join('\n')}\n`);
  });

  it('Rules reference: check-config lists every problem of the sample document, as quoted', async () => {
    const quoted = blockAfter('every\nproblem in a document is reported at once with its path:');
    const [command, ...output] = quoted.split('\n');
    expect(command).toBe('$ image-rewriter check-config --config rules.yaml');
    const file = join(mkdtempSync(join(tmpdir(), 'readme-')), 'rules.yaml');
    writeFileSync(file, [
      'rules:',
      '  - {name: a, matchh: gcr.io, replace: asia.gcr.io}',
      '  - {name: b, match: quay.io, replace: "${env:AWS_ACCOUNT_ID}.dkr.ecr.us-west-2.amazonaws.com/quay"}',
      "  - {name: c, regex: '(a+)+', replace: mirror.example.com/x}",
      '',
    ].join('\n'));
    const io = captureIo({});
    expect(await main(['check-config', '--config', file], io)).toBe(2);
    expect(io.err().replaceAll(file, 'rules.yaml')).toBe(`${output.join('\n')}\n`);
  });

  it('Find what still pulls from upstream: the table and summary audit prints, as quoted', async () => {
    const quoted = blockAfter('kubectl get pods,deploy -A -o json | image-rewriter audit --config rules.yaml -f -\n```');
    const container = { name: 'web', image: 'gcr.io/web:1.4' };
    const list = {
      apiVersion: 'v1', kind: 'List', items: [
        { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-7d9c-x2', namespace: 'shop' }, spec: { containers: [container] } },
        { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'shop' }, spec: { template: { spec: { containers: [container] } } } },
      ],
    };
    const io = captureIo({ REWRITE_RULES: 'rules: [{name: gcr, match: gcr.io, replace: asia.gcr.io}]' }, JSON.stringify(list));
    expect(await main(['audit', '-f', '-'], io)).toBe(1);
    expect(io.out()).toBe(`${quoted}\n`);
  });
});

describe('README The command line', () => {
  const table = readme.split('\n## The command line\n')[1]?.split('\n## ')[0] ?? '';
  /** The first cell of each row, by command: `serve --config FILE ...`. */
  const synopsis = new Map(
    table.split('\n').flatMap((l) => {
      const cell = /^\| `([a-z-]+)([^`]*)` \|/.exec(l);
      return cell === null ? [] : [[cell[1] ?? '', cell[2] ?? ''] as const];
    }),
  );

  it("names every option that help's usage lists for each command", async () => {
    const io = captureIo({});
    expect(await main(['help'], io)).toBe(0);
    const usage = io.out().split('\n\n')[1] ?? '';
    const commands = usage.split(/\n(?= {2}image-rewriter )/).map((part) => /^ {2}image-rewriter (\S+)([\s\S]*)$/.exec(part)).filter((m) => m !== null);
    expect(commands.length).toBeGreaterThan(6);
    for (const [, command = '', text = ''] of commands) {
      if (command === 'version' || command === 'help') continue;
      const options = new Set(text.match(/(?<![\w-])--?[a-z][a-z-]*/g) ?? []);
      expect({ command, missing: [...options].filter((o) => !(synopsis.get(command) ?? '').includes(o)) }).toEqual({ command, missing: [] });
    }
  });

  // The other way round: help's usage lacked invoke's --quiet, which the README's table lists.
  it("has help's usage list every option the README gives each command", async () => {
    const io = captureIo({});
    expect(await main(['help'], io)).toBe(0);
    const usage = io.out().split('\n\n')[1] ?? '';
    const text = new Map(usage.split(/\n(?= {2}image-rewriter )/).flatMap((part) => {
      const m = /^ {2}image-rewriter (\S+)([\s\S]*)$/.exec(part);
      return m === null ? [] : [[m[1] ?? '', m[2] ?? ''] as const];
    }));
    expect(synopsis.size).toBeGreaterThan(6);
    for (const [command, options] of synopsis) {
      const listed = text.get(command) ?? '';
      expect({ command, missing: (options.match(/(?<![\w-])--?[a-z][a-z-]*/g) ?? []).filter((o) => !new RegExp(`(?<![\\w-])${o}(?![\\w-])`).test(listed)) }).toEqual({ command, missing: [] });
    }
  });

  // The commands the README gives to run (its code blocks and inline commands), not only the table:
  // each option is one help's usage lists for that command (explain's example used -c, an alias
  // that no usage, table or other example names).
  it("gives each command it shows to run only options help's usage lists for it", async () => {
    const io = captureIo({});
    expect(await main(['help'], io)).toBe(0);
    const usage = io.out().split('\n\n')[1] ?? '';
    const listed = new Map(usage.split(/\n(?= {2}image-rewriter )/).flatMap((part) => {
      const m = /^ {2}image-rewriter (\S+)([\s\S]*)$/.exec(part);
      return m === null ? [] : [[m[1] ?? '', m[2] ?? ''] as const];
    }));
    const shown = [...readme.replaceAll('\\\n', ' ').matchAll(/(?:node dist\/cli\.js|image-rewriter) ([a-z][a-z-]+)((?: [^\n|#;&)`<>]*)?)/g)].flatMap((m) => {
      const command = m[1] ?? '';
      return listed.has(command) ? (m[2]?.match(/(?<![\w-])--?[a-z][a-z-]*/g) ?? []).map((option) => ({ command, option })) : [];
    });
    expect(shown.length).toBeGreaterThan(30);
    expect(shown.filter(({ command, option }) => !new RegExp(`(?<![\\w-])${option}(?![\\w-])`).test(listed.get(command) ?? ''))).toEqual([]);
  });
});

describe('README Logs and metrics', () => {
  // tests/unit/handler.lambda-init.test.ts pins the document (ConfigErrors, no Outcome); template.yaml's
  // ConfigErrorAlarm sums that series (`init`), which a query by Outcome misses.
  it("says a failed cold start's metrics have the dimension service only", () => {
    const text = (readme.split('\n### Logs and metrics\n')[1]?.split('\n### ')[0] ?? '').replace(/\s+/g, ' ');
    expect(text).toContain('a cold start that fails, `cannot start: fix the function configuration`, writes a document of its own with the dimension `service` only, its `ConfigErrors` counting the failure');
  });

  it("names every key of the review line's rewritten entries, an image volume's included", () => {
    const text = readme.split('\n### Logs and metrics\n')[1]?.split('\n### ')[0] ?? '';
    const rewrite = (list: 'containers' | 'volumes', name: string) => ({ containerName: name, list, pointer: '', from: 'gcr.io/a', to: 'asia.gcr.io/a', rule: 'gcr' });
    const report: ReviewReport = { uid: 'u', kind: 'v1/Pod', namespace: 'ns', name: 'p', operation: 'CREATE', rewrites: [rewrite('containers', 'app'), rewrite('volumes', 'data')], invalid: [], malformed: [] };
    const entries = reviewFields(report, 'patched').fields['rewritten'] as Record<string, unknown>[];
    const keys = new Set(entries.flatMap((e) => Object.keys(e)));
    expect([...keys].sort()).toEqual(['container', 'from', 'rule', 'to', 'volume']);
    for (const key of keys) expect(text).toContain(`\`${key}\``);
  });
});

describe('README Cold starts', () => {
  it('quotes the cold start figures of the run docs/performance.md reports', () => {
    const performance = readFileSync(join(REPO_ROOT, 'docs', 'performance.md'), 'utf8');
    const row = (label: string): string => performance.split('\n').find((l) => l.startsWith(`| 3 cold start${label}`))?.split('|')[2]?.trim() ?? '';
    const inline = row(': spawn -> first answer');
    const fromAws = row(', token from an SSM parameter');
    const paragraph = readme.split('- **Cold starts.**')[1]?.split('\n- **')[0] ?? '';
    const quoted = /(\d+) ms with inline rules and token[^,]*, (\d+) ms with\s+the token read from AWS/.exec(paragraph);
    expect(quoted).not.toBeNull();
    expect(Math.round(Number.parseFloat(inline))).toBe(Number(quoted?.[1]));
    expect(Math.round(Number.parseFloat(fromAws))).toBe(Number(quoted?.[2]));
  });
});

describe('README enforcement example (the ValidatingAdmissionPolicy)', () => {
  // The policy as the README gives it, its CEL run by cel-js as the API server runs it: the match
  // conditions first (all must hold), then the validations. The real kube-apiserver runs it beside the webhook in
  // tests/e2e/kubectl-workflows.e2e.ts (W3).
  const block = readme.split('\n### Opt-out, and why this is not a policy boundary\n')[1]?.split('```yaml\n')[1]?.split('```')[0] ?? '';
  const [policy] = parseAllDocuments(block).map((d) => d.toJS() as { spec: { matchConditions?: { expression: string }[]; validations: { expression: string }[] } });
  const env = new Environment({ enableOptionalTypes: true, unlistedVariablesAreDyn: true, homogeneousAggregateLiterals: false });
  interface Pod {
    spec: { containers: { name: string; image: string }[]; ephemeralContainers?: { name: string; image: string }[] };
  }
  const pod = (image: string, labels: Record<string, string> = {}): Pod & { metadata: object } => ({ metadata: { name: 'p', labels }, spec: { containers: [{ name: 'c', image }] } });
  const admitted = (operation: 'CREATE' | 'UPDATE', object: object, oldObject: object | null = null): boolean => {
    const vars = { request: { operation }, object, oldObject };
    if (!(policy?.spec.matchConditions ?? []).every((c) => env.evaluate(c.expression, vars) === true)) return true;
    return (policy?.spec.validations ?? []).every((v) => env.evaluate(v.expression, vars) === true);
  };

  it('refuses Pods from other registries, and image changes to them', () => {
    expect(policy?.spec.validations.length).toBe(2);
    expect(admitted('CREATE', pod('asia.gcr.io/nginx'))).toBe(true);
    expect(admitted('CREATE', pod('nginx'))).toBe(false);
    expect(admitted('UPDATE', pod('nginx'), pod('asia.gcr.io/nginx'))).toBe(false);
    const debugged = { ...pod('asia.gcr.io/nginx'), spec: { ...pod('asia.gcr.io/nginx').spec, ephemeralContainers: [{ name: 'd', image: 'busybox' }] } };
    expect(admitted('UPDATE', debugged, pod('asia.gcr.io/nginx'))).toBe(false);
    // Image volumes (pulled like images): another registry's is refused, other volume types pass.
    const withVolumes = (reference: string): object => ({ ...pod('asia.gcr.io/nginx'), spec: { ...pod('asia.gcr.io/nginx').spec, volumes: [{ name: 'tmp', emptyDir: {} }, { name: 'm', image: { reference } }] } });
    expect(admitted('CREATE', withVolumes('asia.gcr.io/models/llm:1'))).toBe(true);
    expect(admitted('CREATE', withVolumes('ghcr.io/models/llm:1'))).toBe(false);
  });

  it('lets a Pod that ran before the policy be labelled and finish deleting (an update that changes no image)', () => {
    // Without this, removing a finalizer (a Job's, the garbage collector's) was refused: stuck Terminating.
    expect(admitted('UPDATE', pod('nginx', { team: 'a' }), pod('nginx'))).toBe(true);
  });
});

describe('README Rule fields', () => {
  // The table said "letters, digits, -, _, ." only: a name such as `-legacy` or `gcr.` was then
  // refused by check-config with a condition the README did not state.
  it.each([
    ['a leading "-"', '-legacy'],
    ['a trailing "."', 'gcr.'],
    ['a leading "_"', '_x'],
  ])('the name row states what check-config refuses: %s', (_, name) => {
    const row = readme.split('\n').find((l) => l.startsWith('| `name` |')) ?? '';
    const result = parseRules(`rules: [{name: "${name}", match: gcr.io, replace: asia.gcr.io}]`, {});
    const message = result.ok ? '' : (result.issues.find((i) => i.path.join('.') === 'rules.0.name')?.message ?? '');
    const condition = /\(([^)]+)\)$/.exec(message)?.[1] ?? '';
    expect(condition).not.toBe('');
    expect(row).toContain(condition);
  });

  it('the namespaces row states what check-config refuses in a namespace list', () => {
    const row = readme.split('\n').find((l) => l.startsWith('| `namespaces` |')) ?? '';
    const paths = (list: string): string[] => {
      const r = parseRules(`rules: [{name: a, match: gcr.io, replace: asia.gcr.io, namespaces: ${list}, excludeNamespaces: ${list}}]\n`, {});
      return r.ok ? [] : r.issues.map((i) => i.path.join('.'));
    };
    expect(paths('["kube-"]')).toEqual(['rules.0.namespaces.0', 'rules.0.excludeNamespaces.0']);
    expect(paths('["Team_A"]')).toEqual(['rules.0.namespaces.0', 'rules.0.excludeNamespaces.0']);
    expect(paths('[]')).toEqual(['rules.0.namespaces', 'rules.0.excludeNamespaces']);
    expect(paths('["kube-*", "t?am", "*-x", "a"]')).toEqual([]);
    expect(row).toContain('(lower-case letters, digits and `-`, starting and ending with a letter, a digit or a wildcard: `kube-`, its `*` forgotten, is an error; one without a `*` longer than a namespace name\'s 63 characters matches nothing, and `check-config` warns), and the list is not empty');
  });

  it("the replace row states that a match rule's replace inside its own prefix is refused, an excluded target included", () => {
    const row = readme.split('\n').find((l) => l.startsWith('| `replace` |')) ?? '';
    const inside = parseRules('rules: [{name: a, match: gcr.io, replace: GCR.io/mirror}]\nexclude: [gcr.io/mirror]\n', {});
    expect(inside.ok ? [] : inside.issues.map((i) => i.path.join('.'))).toEqual(['rules.0.replace']);
    expect(parseRules('rules: [{name: a, match: gcr.io, replace: gcr.io}]\n', {}).ok).toBe(true);
    expect(row).toContain("A `match` rule's replace inside its own prefix (`gcr.io/mirror` for `match: gcr.io`, the host in any spelling) is an error too, since the rule would take its own results again, even with the target excluded; one equal to it changes nothing and is allowed.");
  });
});

describe('README Deploying with SAM, the parameter tables', () => {
  const template = loadTemplate();
  const section = readme.split('\n## Deploying with SAM\n')[1]?.split('\n## ')[0] ?? '';
  /** The rows of the table under `header`. */
  const table = (header: string): string[] => section.split(`\n${header}\n`)[1]?.split('\n\n')[0]?.split('\n').slice(1) ?? [];
  const parameters = table('| parameter | default | meaning |');
  const verify = table('| parameter | grants and sets |');
  /** Each row's first cell split into names (`A` / `B`), with the rest of the row. */
  const rows = [...parameters, ...verify].flatMap((l) => {
    const m = /^\| ((?:`[A-Za-z]+`(?: \/ )?)+) \|(.*)$/.exec(l);
    return m === null ? [] : [{ names: [...(m[1] ?? '').matchAll(/`([A-Za-z]+)`/g)].map((n) => n[1] ?? ''), rest: m[2] ?? '' }];
  });
  const documented = new Map(rows.flatMap((r) => r.names.map((n, i) => [n, { ...r, index: i }] as const)));

  it('documents every parameter of template.yaml, and no other', () => {
    expect([...documented.keys()].sort()).toEqual(Object.keys(template.Parameters).sort());
  });

  // The first table's second column: `default` / `default`, where "empty" is '' and a parenthesis explains.
  it.each(rows.filter((r) => parameters.some((l) => l.endsWith(r.rest))).flatMap((r) => r.names))(
    '%s: the default the table gives is the template\'s',
    (name) => {
      const row = documented.get(name);
      const cell = (row?.rest.split(' | ')[0] ?? '').trim().replace(/ \([^)]*\)/g, '');
      const quoted = cell.split(' / ')[row?.index ?? 0]?.replaceAll('`', '').trim();
      expect(quoted === 'empty' ? '' : quoted).toBe(JSON.stringify(template.Parameters[name]?.['Default']).replace(/^"|"$/g, ''));
    },
  );

  it("VerifyDeadlineMs: the default and the range the row gives are the template's", () => {
    const row = documented.get('VerifyDeadlineMs')?.rest ?? '';
    const p = template.Parameters['VerifyDeadlineMs'] ?? {};
    const [min, max] = patternRange(template, 'VerifyDeadlineMs');
    expect(row).toContain(`(default ${JSON.stringify(p['Default']).replace(/^"|"$/g, '')}, ${min} to ${max}:`);
    expect(Number(p['Default'])).toBe(DEFAULT_VERIFY_DEADLINE_MS);
  });

  // The stack's range, in the table and where the command line's settings give the variable's own.
  it("RewriteRulesTtlSeconds: the range the README gives is the template's, inside the variable's", () => {
    const [min, max] = patternRange(template, 'RewriteRulesTtlSeconds');
    expect(documented.get('RewriteRulesTtlSeconds')?.rest ?? '').toContain(`in whole seconds from ${min} to ${max}`);
    expect(readme.replace(/\s+/g, ' ')).toContain(`the stack sets it from \`RewriteRulesTtlSeconds\`, ${min} to ${max})`);
    expect(Number(template.Parameters['RewriteRulesTtlSeconds']?.['Default'])).toBe(DEFAULT_TTL_SECONDS);
    expect(min >= 1 && max <= MAX_TTL_SECONDS).toBe(true);
  });

  // Upgrading tells a stack of an earlier template what it lost: that must stay true of this one.
  it('Upgrading: the parameter and output it says earlier templates had are gone, the output it names instead is there', () => {
    const upgrading = readme.slice(readme.indexOf('\n## Upgrading\n'), readme.indexOf('\n## Troubleshooting\n'));
    expect(upgrading).toContain('a `WebhookToken` parameter and a\n  `WebhookTokenSecretArn` output');
    expect(Object.keys(template.Parameters)).not.toContain('WebhookToken');
    expect(Object.keys(template.Outputs)).not.toContain('WebhookTokenSecretArn');
    expect(upgrading).toContain('read\n  `WebhookTokenParameter` now');
    expect(Object.keys(template.Outputs)).toContain('WebhookTokenParameter');
    expect(upgrading).toContain('printed again without `--scope` it registers Pods only');
    expect(DEFAULT_SCOPE).toBe('pods');
    expect(upgrading).toContain('now `rules: []`');
    expect(template.Parameters['RewriteRules']?.['Default']).toBe('rules: []');
  });

  // SAM CLI sends CloudFormation only the parameters the template declares (DeployContext.merge_parameters
  // iterates the template's Parameters): an override of another name is dropped without a word, so
  // nothing refuses a leftover WebhookToken (scripts/deploy-regions.ts checks its --parameter names
  // for that reason).
  it('Upgrading: does not say the deploy refuses a leftover WebhookToken override, which sam deploy drops silently', () => {
    const upgrading = readme.slice(readme.indexOf('\n## Upgrading\n'), readme.indexOf('\n## Troubleshooting\n')).replace(/\s+/g, ' ');
    expect(upgrading).not.toContain('CloudFormation refuses a parameter the template does not have');
    expect(upgrading).toContain('`sam deploy` drops an override the template does not declare without a word');
  });
});

describe("README figures are the code's constants", () => {
  const text = readme.replace(/\s+/g, ' ');
  const mib = (bytes: number): number => bytes / 2 ** 20;
  const thousands = (n: number): string => n.toLocaleString('en-US');
  it.each([
    ['rules per document and its size', `At most ${thousands(MAX_RULES)} rules, in a document of at most ${mib(MAX_RULES_DOCUMENT_BYTES)} MiB`],
    ['existence checks at once and the caches', `in parallel (at most ${VERIFY.maxConcurrentChecks} at once) under one deadline, with a positive cache (${VERIFY.positiveTtlMs / 60_000} min), a negative cache (${VERIFY.negativeTtlMs / 1000} s)`],
    ['VERIFY_DEADLINE_MS default', `within \`VERIFY_DEADLINE_MS\` (default ${DEFAULT_VERIFY_DEADLINE_MS})`],
    ['VERIFY_DEADLINE_MS range, among the settings of the command line (only the stack\'s was given)', `\`VERIFY_DEADLINE_MS\` (default ${DEFAULT_VERIFY_DEADLINE_MS}, ${MIN_VERIFY_DEADLINE_MS} to ${thousands(MAX_VERIFY_DEADLINE_MS)} ms;`],
    ['serve --max-body-bytes default', `(default ${mib(SERVE_MAX_BODY_BYTES)} MiB, the handler's own limit;`],
    ['serve: the Lambda limit it copies', `default ${mib(LAMBDA_MAX_BODY_BYTES)} MiB, the handler's own limit`],
    ['serve --max-body-bytes range', `the largest request body taken, 1 byte to ${mib(MAX_BODY_BYTES_LIMIT)} MiB (default`],
    ['serve worker restart delays', `a worker that dies is replaced at once, or after ${RESTART_DELAY_MS / 1000}, 2, 4... up to`],
    ['serve log line length', `each line whole up to ${mib(MAX_LINE_BYTES)} MiB`],
    ['serve --workers range', `\`--workers\` processes share the port (1 to ${MAX_WORKERS}; default:`],
    ['serve worker restarts', `after 1, 2, 4... up to ${MAX_RESTART_DELAY_MS / 1000} s`],
    ['serve log relay', `at most once per ${LOG_FLUSH_MS} ms`],
    ['serve log backlog', `gets at most ${mib(MAX_LOG_BACKLOG_BYTES)} MiB of lines waiting in each serve process`],
    ['serve connection slots', `at most half of its ${DEFAULT_MAX_CONNECTIONS} connection slots`],
    ['serve pipelining', `more than ${MAX_PIPELINED_REQUESTS} pipelined requests unanswered`],
    ['serve: problems listed at start', `the first ${MAX_LISTED} problems are listed and the others counted`],
    ['webhook-config --timeout-seconds', `\`--timeout-seconds\`: 1 to ${MAX_TIMEOUT_SECONDS}, default ${DEFAULT_TIMEOUT_SECONDS}`],
    ['token length', `shorter than ${MIN_TOKEN_LENGTH} characters`],
    // serve and the other commands read a rules parameter too, with their own variable (the stack's parameter has its own range).
    ['SSM rules: REWRITE_RULES_TTL_SECONDS', `\`REWRITE_RULES_TTL_SECONDS\` (default ${DEFAULT_TTL_SECONDS}, a whole number of seconds from 1 to ${thousands(MAX_TTL_SECONDS)};`],
    ['SSM rules: backoff', `after a backoff (${RETRY_BASE_MS / 1000} s, doubling, at most ${RETRY_MAX_MS / 1000} s and the TTL)`],
    ['SSM rules: problems logged', `the first ${MAX_LISTED} problems with their paths in \`issues\``],
    ['the review line lists', `as lists of at most ${MAX_LISTED} entries`],
    ['audit pages', `one \`list\` call per page of ${PAGE_SIZE.default} objects (\`--page-size\`, ${PAGE_SIZE.min} to ${PAGE_SIZE.max})`],
    ['audit retries', `(at most ${MAX_RETRY_WAIT_MS / 1000} s), or 0.5, 1, 2, 4 s for a 429 without one; after ${LIST_TRIES} tries`],
    ['render alias limit', 'one it refuses for its aliases\' expansion is refused'],
    ['render memory per document', `(up to ${HEAP_PER_DOCUMENT_CHAR} times its size:`],
    ['render memory per List', `the List up to ${HEAP_PER_LIST_CHAR} times its size`],
    ['matchConditions: expression size', `${thousands(CEL_MAX_EXPRESSION_SIZE)} characters per expression`],
    ['matchConditions: volumes and image length', `more than ${thousands(MAX_VOLUMES)} volumes, or an image longer than ${MATCHED_IMAGE_MAX_LENGTH} characters`],
  ])('%s', (_, phrase) => {
    expect(text).toContain(phrase);
  });
});

// The short budget docs/reliability.md gives is each fuzz target's `runs`, property by property in
// the order the file registers them (a property added to a target left the page a count short).
describe("docs/reliability.md, the fuzz targets' short budget", () => {
  const budget = readFileSync(join(REPO_ROOT, 'docs', 'reliability.md'), 'utf8').replace(/\s+/g, ' ').split('**Budget.**')[1]?.split(';')[0] ?? '';
  it.each(['reference', 'rules', 'review', 'handler'])('%s', (target) => {
    const file = readFileSync(join(REPO_ROOT, 'tests', 'fuzz', `${target}.fuzz.test.ts`), 'utf8');
    const runs = [...file.matchAll(/\{ runs: ([\d_]+)/g)].map((m) => Number((m[1] ?? '').replaceAll('_', '')).toLocaleString('en-US'));
    expect(runs.length).toBe((file.match(/target\.property\(/g) ?? []).length);
    expect(budget).toMatch(new RegExp(`(?:: |, )${runs.join('/')}(?: cases)? \\(${target}[:)]`));
  });
});

// serve's second bound on bodies, the one a burst of large reviews meets: its 503 is a call the API
// server counts as failed, so the README says when it comes and what serve logs then.
describe("README serve's bodies in flight", () => {
  it('gives the budget of body bytes in flight resolveOptions sets, and the reason the request line carries', () => {
    const o = resolveOptions({ handler: () => Promise.reject(new Error('not called')), certFile: '', keyFile: '', port: 0 });
    const requests = readFileSync(join(REPO_ROOT, 'src', 'serve', 'requests.ts'), 'utf8');
    const reason = /status: 503, level: 'warn', reason: '([^']+)'/.exec(requests)?.[1] ?? '(no such 503 in src/serve/requests.ts)';
    expect(readme.replace(/\s+/g, ' ')).toContain(
      `at most ${o.maxBodyBytesInFlight / o.maxBodyBytes} times \`--max-body-bytes\` of bodies at once (${o.maxBodyBytesInFlight / 2 ** 20} MiB by default): a review past that is answered 503 before its body is read, logged as a \`request\` warning (\`${reason}\`)`,
    );
  });
});

// The response quota the Lambda entry gives the handler (a refusal past it): the figure the README quotes.
describe("README's Lambda sizes", () => {
  it('quotes the request quota and the response quota the handler enforces', () => {
    // The two quotas differ by 100 bytes: Lambda refuses a larger event with "Request must be smaller
    // than 6291456 bytes for the InvokeFunction operation", a larger result with "Response payload
    // size exceeded maximum allowed payload size (6291556 bytes)".
    expect(readme.replace(/\s+/g, ' ')).toContain(`at most 6 MB each way (6,291,456 bytes for the event, ${LAMBDA_MAX_RESULT_BYTES.toLocaleString('en-US')} for the result`);
  });
});

describe("docs/verify.md figures are the code's constants", () => {
  const text = readFileSync(join(REPO_ROOT, 'docs', 'verify.md'), 'utf8').replace(/\s+/g, ' ');
  it.each([
    ['the deadline', `\`VERIFY_DEADLINE_MS\` (default ${DEFAULT_VERIFY_DEADLINE_MS}, ${MIN_VERIFY_DEADLINE_MS} to ${MAX_VERIFY_DEADLINE_MS};`],
    ['checks at once', `At most ${VERIFY.maxConcurrentChecks} checks ask registries at once`],
    ['checks per review', `The webhook checks at most ${MAX_CHECKS_PER_REVIEW} distinct targets of one review; the others are \`unreachable\` at once ("not checked: the review has more than ${MAX_CHECKS_PER_REVIEW} distinct targets to check")`],
    ['the caches', `bounded to ${VERIFY.maxCacheEntries} entries, the least recently used going first): present for ${VERIFY.positiveTtlMs / 60_000} minutes, missing for ${VERIFY.negativeTtlMs / 1000} seconds`],
    ['the circuit breaker', `after ${VERIFY.breakerFailures} failures in a row the registry is not asked for ${VERIFY.breakerOpenMs / 1000} s`],
    ['answer bounds', `manifests and configs up to ${MAX_MANIFEST_BYTES / 2 ** 20} MiB, token answers up to ${MAX_TOKEN_BYTES / 1024} KiB, at most ${MAX_REDIRECTS} redirects`],
    ['credentials reads', `a failed read is retried after ${CREDENTIALS_RETRY_MS / 1000} s`],
    ['credentials refresh', `It is read again every ${CREDENTIALS_REFRESH_MS / 60_000} minutes`],
    ['verify metrics of 0 left out (tests/unit/observability.test.ts, recordVerify)', '`VerifyChecks` and `VerifyLatency` in each document of a review that checked, the three others only when not 0'],
    ['warnings cut', `Each warning (what kubectl prints as \`Warning:\`) is cut to about ${WARNING_TARGET_LENGTH} characters, a long reason keeping its end`],
  ])('%s', (_, phrase) => {
    expect(text).toContain(phrase);
  });
});

describe('docs/verify.md and the README on platforms written without a variant', () => {
  // A wanted platform without a variant takes any variant of its architecture (src/verify/platform.ts,
  // satisfies), newer ones too; with the variant written it takes that one or an older one only.
  const index = (platform: object): ReturnType<typeof manifestShape> => manifestShape(JSON.stringify({ mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ digest: 'sha256:x', platform }] }), undefined);
  const platformsOf = (shape: ReturnType<typeof manifestShape>): readonly Platform[] => (shape.kind === 'index' ? shape.platforms : []);

  it('linux/amd64 counts an index of linux/amd64/v3 only, linux/amd64/v1 does not; linux/arm one of linux/arm/v8, linux/arm/v7 does not', () => {
    const verify = readFileSync(join(REPO_ROOT, 'docs', 'verify.md'), 'utf8').replace(/\s+/g, ' ');
    expect(verify).toContain('A platform written without a variant takes an entry of any variant of its architecture, newer ones too: `linux/amd64` counts an index of `linux/amd64/v3` only, and `linux/arm` one of `linux/arm/v8` only');
    expect(readme.replace(/\s+/g, ' ')).toContain('one written without a variant takes any variant, newer ones too: `linux/amd64` counts an index of `linux/amd64/v3` only, while `linux/amd64/v1` does not');
    expect(lacking(platformsOf(index({ os: 'linux', architecture: 'amd64', variant: 'v3' })), ['linux/amd64', 'linux/amd64/v1'])).toEqual(['linux/amd64/v1']);
    expect(lacking(platformsOf(index({ os: 'linux', architecture: 'arm', variant: 'v8' })), ['linux/arm', 'linux/arm/v7'])).toEqual(['linux/arm/v7']);
  });
});

describe('events/README.md', () => {
  // "npm run invoke uses the same rules (its built-in example rules)" as sam local gets from
  // sam-local-env.json, so the expected answers of its table hold for both.
  it("npm run invoke's built-in rules are the rules sam-local-env.json gives sam local", () => {
    const text = readFileSync(join(REPO_ROOT, 'events', 'README.md'), 'utf8').replace(/\s+/g, ' ');
    expect(text).toContain('`npm run invoke` uses the same rules (its built-in example rules)');
    const env = (JSON.parse(readFileSync(join(REPO_ROOT, 'sam-local-env.json'), 'utf8')) as { WebhookFunction: Record<string, string> }).WebhookFunction;
    const samLocal = parseRules(env['REWRITE_RULES'] ?? '', env);
    const builtIn = parseRules(EXAMPLE_RULES, env);
    expect(samLocal.ok && builtIn.ok).toBe(true);
    if (samLocal.ok && builtIn.ok) expect(samLocal.document).toEqual(builtIn.document);
  });
});

describe('links to sections of the README', () => {
  // GitHub's anchor of a heading: lower case, spaces as "-", punctuation other than "-" dropped.
  const anchors = readme.replace(/```[\s\S]*?```/g, '').split('\n').flatMap((l) => {
    const heading = /^#{1,6} (.+)$/.exec(l)?.[1];
    return heading === undefined ? [] : [heading.toLowerCase().replace(/[^\w\- ]/g, '').replaceAll(' ', '-')];
  });

  it("help's link names a section the README has", async () => {
    const io = captureIo({});
    expect(await main(['help'], io)).toBe(0);
    expect(anchors).toContain(/#([a-z0-9-]+)\s*$/m.exec(io.out())?.[1]);
  });

  it("the README's own (#...) links each name one of its sections", () => {
    const links = [...readme.matchAll(/\]\(#([^)]+)\)/g)].map((m) => m[1] ?? '');
    expect(links.length).toBeGreaterThan(5);
    expect(links.filter((l) => !anchors.includes(l))).toEqual([]);
  });
});

// tests/unit/architecture.test.ts holds src/'s comments to the sections they cite; the other files
// cite them too (scripts/audit.sh named reliability.md's "Dependencies", a heading it never had).
describe('sections cited outside src/ (README, "..."; docs/....md, "...")', () => {
  const headings = new Map<string, string[]>();
  const headingsOf = (doc: string): string[] => {
    let found = headings.get(doc);
    if (found === undefined) {
      found = [...readFileSync(join(REPO_ROOT, doc), 'utf8').replace(/```[\s\S]*?```/g, '').matchAll(/^#{1,6} (.+)$/gm)].map((m) => (m[1] ?? '').toLowerCase());
      headings.set(doc, found);
    }
    return found;
  };
  const SKIP = new Set(['node_modules', 'generated', 'ric', 'go-webhook']);
  const TEXT = /\.(?:md|ts|mjs|sh|ya?ml|tpl|txt|toml|py)$/;
  const walk = (dir: string): string[] =>
    readdirSync(join(REPO_ROOT, dir), { withFileTypes: true }).flatMap((e) => {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory()) return SKIP.has(e.name) ? [] : walk(path);
      return TEXT.test(e.name) && !e.name.endsWith('.lock') ? [path] : [];
    });
  const files = [...['docs', 'scripts', 'deploy', 'hack', 'bench', 'helm', 'events'].flatMap(walk), 'README.md', 'template.yaml', 'samconfig.toml', 'Dockerfile', 'mutating-webhook.yaml', 'nginx-gcr.yaml', '.checkov.yaml', '.dockerignore', 'eslint.config.mjs', 'jest.config.js', 'jest.e2e.config.js', 'jest.integration.config.js', '.ci/run'];
  // A citation's quote may run over comment lines (`#`, `//`, ` * `); a reference to docs/ from inside docs/ may drop the folder.
  const CITATION = /\b(README(?:\.md)?|docs\/[a-z-]+\.md|(?<![\w/])(?:design|reliability|verify|performance)\.md)[,:]? "([^"]+)"/g;
  const cited = files.flatMap((file) =>
    [...readFileSync(join(REPO_ROOT, file), 'utf8').matchAll(CITATION)].map((m) => {
      const doc = m[1] ?? '';
      return {
        file,
        doc: doc.startsWith('README') ? 'README.md' : doc.startsWith('docs/') ? doc : `docs/${doc}`,
        section: (m[2] ?? '').replace(/\s*\n\s*(?:\*|\/\/|#)?\s*/g, ' ').replaceAll('\\`', '`'),
      };
    }),
  );

  it('each names a heading of the document it cites', () => {
    expect(cited.length).toBeGreaterThan(20);
    expect(cited.filter((c) => !headingsOf(c.doc).some((h) => h.includes(c.section.toLowerCase())))).toEqual([]);
  });
});


describe('README Supported Kubernetes versions', () => {
  const section = readme.split('\n### Supported Kubernetes versions\n')[1]?.split('\n### ')[0]?.replace(/\s+/g, ' ') ?? '';
  const pinned = (dir: string): string => /^\s*k8s\.io\/kubernetes v(\S+)/m.exec(readFileSync(join(REPO_ROOT, 'hack', 'k8s', dir, 'go.mod'), 'utf8'))?.[1] ?? '';
  const oldDirs = readdirSync(join(REPO_ROOT, 'hack', 'k8s')).filter((d) => /^v1\.\d+$/.test(d));

  it('names the versions hack/k8s pins (the default and each older minor), and how to run the suite against each', () => {
    expect(oldDirs).not.toEqual([]);
    expect(section).toContain(`kube-apiserver ${pinned('.')} (the default)`);
    for (const dir of oldDirs) {
      expect(pinned(dir).startsWith(`${dir.slice(1)}.`)).toBe(true);
      expect(section).toContain(pinned(dir));
      expect(section).toContain(`IMAGE_REWRITER_K8S_VERSION=${dir.slice(1)} npm run test:e2e`);
      expect(section).toContain(`\`hack/k8s/${dir}\``);
    }
  });

  it('says what a user of an older minor meets, in the words kubectl and audit print, and where the CI subset is', () => {
    expect(section).toContain('**Image volumes** (`volumes[].image`) need the ImageVolume feature, on by default from 1.35');
    // What kubectl 1.32 printed for README's MutatingAdmissionPolicy (tests/e2e/admission-policies.e2e.ts P0).
    expect(section).toContain('**MutatingAdmissionPolicies** are served by default from 1.36 only');
    expect(section).toContain('`no matches for kind "MutatingAdmissionPolicy" in version "admissionregistration.k8s.io/v1"`');
    // The note audit prints (tests/e2e/audit.e2e.ts A5: always on 1.32).
    expect(section).toContain("before 1.34 the API server reads each page after the first from etcd at the first page's revision");
    expect(section).toContain("`note: listing ... outlived the API server's snapshot`");
    expect(readFileSync(join(REPO_ROOT, 'src', 'cli', 'audit.ts'), 'utf8')).toContain("`note: listing ${what} outlived the API server's snapshot (HTTP 410");
    // What kube-apiserver 1.32.13 counted for a call refused a connection (tests/e2e/webhook.e2e.ts scenario 8).
    expect(section).toContain("**The API server's counters of failed calls**");
    expect(section).toContain('with code 503 from 1.34, 400 on 1.32 and 1.33, the code of a 400 the webhook answers too');
    expect(section).toContain('`E2E_VERSION_SUBSET` in `scripts/test-all.sh`');
    expect(readFileSync(join(REPO_ROOT, 'scripts', 'test-all.sh'), 'utf8')).toMatch(/^E2E_VERSION_SUBSET='/m);
  });
});

describe('README Rewrite before apply, what render decides', () => {
  const gitops = (readme.split('\n## Rewrite before apply (GitOps, Helm)\n')[1]?.split('\n## ')[0] ?? '').replace(/\s+/g, ' ');
  const dir = mkdtempSync(join(tmpdir(), 'readme-render-'));
  const rules = join(dir, 'rules.yaml');
  writeFileSync(rules, 'rules:\n  - {name: gcr, match: gcr.io, replace: asia.gcr.io}\n');
  const replicaSet = {
    apiVersion: 'apps/v1', kind: 'ReplicaSet',
    metadata: { name: 'web-1', namespace: 'shop', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'u1', controller: true }] },
    spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'gcr.io/web:1' }] } } },
  };

  it('names the one object render rewrites and the webhook leaves alone: a ReplicaSet a Deployment controls', async () => {
    const event = loadEvent('rest-deployment-v1.json');
    const body = JSON.parse(event['body'] as string) as { request: Record<string, unknown> };
    const kind = { group: 'apps', version: 'v1', kind: 'ReplicaSet' };
    const resource = { group: 'apps', version: 'v1', resource: 'replicasets' };
    Object.assign(body.request, { kind, requestKind: kind, resource, requestResource: resource, name: 'web-1', namespace: 'shop', object: replicaSet });
    const eventFile = join(dir, 'event.json');
    writeFileSync(eventFile, JSON.stringify({ ...event, body: JSON.stringify(body) }));
    const invoked = captureIo({});
    expect(await main(['invoke', '--quiet', '--config', rules, eventFile], invoked)).toBe(0);
    expect(invoked.out()).toContain('"allowed": true');
    expect(invoked.out()).not.toContain('"patch"');
    const rendered = captureIo({}, JSON.stringify(replicaSet));
    expect(await main(['render', '--config', rules], rendered)).toBe(0);
    expect(rendered.out()).toContain('"image":"asia.gcr.io/web:1"');
    expect(gitops).toContain('One exception: a ReplicaSet that a Deployment controls (its `ownerReferences` entry with `controller: true`), which the webhook leaves as the Deployment controller made it ("Scope"), is rewritten like any other workload.');
  });

  it('says that custom resources with pod templates (an Argo Rollout) pass render untouched (QA-39)', async () => {
    const rollout = 'apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers: [{name: web, image: gcr.io/web:1}]\n';
    const rendered = captureIo({}, rollout);
    expect(await main(['render', '--config', rules], rendered)).toBe(0);
    expect(rendered.out()).toBe(rollout);
    const checked = captureIo({}, rollout);
    expect(await main(['render', '--check', '--config', rules], checked)).toBe(0);
    expect(gitops).toContain("Custom resources that hold a pod template or containers of their own (Argo Rollouts' `Rollout`, Knative's `Service`, Argo Workflows, Tekton) are none of these kinds: render leaves them byte for byte and `--check` does not count them");
  });

  it('gives helm template and kubectl apply the namespace its render --namespace assumes (QA-39)', () => {
    // `helm template` without -n writes .Release.Namespace as the kubeconfig's, and `kubectl apply -f -`
    // without -n creates an object of no namespace in the kubeconfig's: render decided for another.
    const lines = readme.split('\n').filter((l) => /^helm template .*\| image-rewriter render .*--namespace /.test(l));
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      const ns = /--namespace[= ](\S+)/.exec(line)?.[1] ?? '';
      expect(line).toMatch(new RegExp(`^helm template \\S+ \\S+ (?:-n|--namespace)[= ]${ns} `));
      if (line.includes('kubectl apply')) expect(line).toMatch(new RegExp(`kubectl apply (?:-n|--namespace)[= ]${ns} `));
    }
  });
});

describe('README Rules reference, Examples', () => {
  const section = readme.split('\n### Examples\n')[1]?.split('\n## ')[0] ?? '';
  const examples = [...section.matchAll(/\*\*[^*]+\*\* \(`([^`]+)`\)([\s\S]*?)```yaml\n([\s\S]*?)```/g)].map((m) => ({ file: m[1] ?? '', prose: m[2] ?? '', block: m[3] ?? '' }));
  const env = { AWS_ACCOUNT_ID: '123456789012', AWS_REGION: 'us-west-2', AWS_URL_SUFFIX: 'amazonaws.com' };

  it('shows each fixture file whole, its comments left out', () => {
    expect(examples.length).toBeGreaterThanOrEqual(7);
    for (const { file, block } of examples) {
      const text = readFileSync(join(REPO_ROOT, 'tests', 'fixtures', file), 'utf8');
      expect(`${file}\n${block}`).toBe(`${file}\n${text.split('\n').filter((l) => !l.startsWith('#')).join('\n')}`);
    }
  });

  it('each `IMAGE` becomes `RESULT` it states is what explain answers (in us-west-2)', async () => {
    let pairs = 0;
    for (const { file, prose } of examples) {
      for (const m of prose.replace(/\s+/g, ' ').matchAll(/`([^`]+)` becomes `([^`]+)`/g)) {
        const io = captureIo(env);
        expect(await main(['explain', '--config', join(REPO_ROOT, 'tests', 'fixtures', file), m[1] ?? ''], io)).toBe(0);
        expect((JSON.parse(io.out()) as { rewritten: string }).rewritten).toBe(m[2]);
        pairs++;
      }
    }
    expect(pairs).toBeGreaterThanOrEqual(5);
  });
});

describe('README Scope, the images a matchConditions entry can afford to match', () => {
  it('gives the counts webhook-config --config bakes in for the rules it names', () => {
    const text = (readme.split('\n### Scope: `--scope pods` (default) or `--scope all`\n')[1]?.split('\n### ')[0] ?? '').replace(/\s+/g, ' ');
    const most = (prefixes: string[]): number => matchableImages(imageRegex(prefixes.map((pattern) => ({ kind: 'match' as const, pattern }))) ?? '');
    const demo = most(['k8s.gcr.io', 'gcr.io']);
    const five = most(['docker.io', 'gcr.io', 'quay.io', 'ghcr.io', 'registry.k8s.io']);
    expect(text).toContain(`(${demo} with the demo's two rules, ${five} with rules for \`docker.io\`, \`gcr.io\`, \`quay.io\`, \`ghcr.io\` and \`registry.k8s.io\`, fewer with more or longer prefixes)`);
  });
});

describe('README Rewrite before apply, the image scalars render changes', () => {
  it('keeps the quoting of a one-line image, and writes a block scalar as one double-quoted line', async () => {
    const gitops = (readme.split('\n## Rewrite before apply (GitOps, Helm)\n')[1]?.split('\n## ')[0] ?? '').replace(/\s+/g, ' ');
    const dir = mkdtempSync(join(tmpdir(), 'readme-scalars-'));
    const rules = join(dir, 'rules.yaml');
    writeFileSync(rules, 'rules:\n  - {name: gcr, match: gcr.io, replace: asia.gcr.io}\n');
    const pod = (a: string, b: string, c: string): string => `apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n    - name: a\n      image: ${a}\n    - name: b\n      image: ${b}\n    - name: c\n      image: ${c}\n`;
    const io = captureIo({}, pod("'gcr.io/a:1'", '>-\n        gcr.io/b:1', '|-\n        gcr.io/c:1'));
    expect(await main(['render', '--config', rules], io)).toBe(0);
    expect(io.out()).toBe(pod("'asia.gcr.io/a:1'", '"asia.gcr.io/b:1"', '"asia.gcr.io/c:1"'));
    expect(gitops).toContain('Only the image scalars change (quoted as they were; a block scalar, `image: >-` or `|-` with the image on the next line, becomes one double-quoted line)');
  });
});
