/**
 * `image-rewriter webhook-config`: prints the MutatingWebhookConfiguration (admissionregistration.k8s.io/v1)
 * that registers the webhook with a cluster. `webhookConfiguration(options)` builds the object
 * (pure: no I/O); the command reads the CA bundle, validates the flags and prints YAML with a header
 * comment saying how it was made. mutating-webhook.yaml at the top level is this output for a
 * placeholder URL, kept in sync by tests/unit/webhook-config.test.ts (UPDATE_GOLDEN=1 rewrites it).
 *
 * What the configuration says, and why:
 * - clientConfig: `--url` (API Gateway's `.../mutate/<token>`), or `--service NAMESPACE/NAME[:PORT]`
 *   with `--token` for `serve` behind a Service (src/cli/webhook-endpoint.ts); nothing else differs.
 * - AdmissionReview v1 and v1beta1 offered (the handler answers both), v1 first.
 * - failurePolicy Ignore: a webhook that is down or slow never blocks Pods (fail open); `--failure-policy
 *   Fail` for those who want a rule's `onMissing: deny` to be certain, at the cost of refusing Pods then.
 * - timeoutSeconds 5 by default: well under API Gateway's 29 s integration timeout; 1..30 allowed.
 * - reinvocationPolicy IfNeeded: images added by later webhooks (sidecar injectors) are rewritten too,
 *   unless a `--config` matchCondition skipped the first call (the API server reinvokes only the
 *   webhooks it called then: see `--config` below).
 * - sideEffects None, matchPolicy Equivalent (apps/v1beta2 and friends are converted and sent).
 * - kube-system is never sent, nor the namespace of `--service` (serve's own Pods must not depend
 *   on it); a namespace or an object labelled `image-rewriter.io/skip=true` is
 *   not sent either (the handler also honours the label and annotation, for objects that reach it),
 *   unless the rules given with `--config` say `allowOptOut: false`. `--opt-in`: only namespaces
 *   labelled `image-rewriter.io/rewrite=true` are sent (a rollout namespace by namespace); the
 *   opt-out label and the namespaces above still win.
 * - `--scope pods` (the default): Pods and the pods/ephemeralcontainers subresource that
 *   `kubectl debug` uses. The objects GitOps tools own (Deployments...) are stored as applied, so
 *   Argo CD and Flux see no drift, and a rollout costs one call per Pod instead of three more for
 *   the Deployment, ReplicaSet and Pod template. `--scope all` adds the pod templates of
 *   Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob, ReplicationController and
 *   PodTemplate (rewrites visible at `kubectl apply`, at the price of drift), and a matchCondition
 *   `not-deployment-replicaset` (src/core/match-conditions.ts) so that a ReplicaSet a Deployment
 *   controls, which the handler leaves alone, is not sent: a rollout updates them at every step.
 *   CREATE and UPDATE; namespaced objects only.
 * - `--config FILE`: a CEL matchCondition derived from the rules (src/core/match-conditions.ts), so
 *   the API server calls only when some image could be rewritten. It bakes the rules in: generate
 *   the configuration again when the rules change their prefixes. The condition sees the object
 *   before the webhooks of configurations named after this one, and a webhook it skipped is never
 *   reinvoked: images they add stay upstream unless `--name` sorts this one after theirs (the
 *   printed header says so). A `${env:NAME}` of a replace that is not set here gets a placeholder
 *   (src/cli/webhook-config-rules.ts): the conditions never depend on replace.
 */
import { readUpTo } from '../config/bounded-read.js';
import { Document } from 'yaml';
import { type Command, EXIT, isDnsSubdomain, parseFlags, UsageError } from './common.js';
import { describeSystemError } from '../config/system-error.js';
import { ADMISSION_REVIEW_VERSIONS, OPT_IN_LABEL, OPT_IN_VALUE, SKIP_LABEL, SKIP_VALUE } from '../core/admission.js';
import { oneLine } from '../core/json.js';
import { imageRegex, type MatchCondition, matchConditionExpression, matchConditions, type Scope } from '../core/match-conditions.js';
import type { CompiledRule } from '../core/rules.js';
import { WORKLOAD_TYPES, type WorkloadType } from '../core/workload.js';
import { readConditionRules } from './webhook-config-rules.js';
import { caBundleProblem, type ClientConfig, endpointWarnings, parseService, privateHostWithoutCa, serviceHost, shownValue, urlProblem } from './webhook-endpoint.js';

/** The webhook's name: a DNS name with at least three segments, as the API server requires. */
export const WEBHOOK_NAME = 'image-rewriter.image-rewriter.io';
export const DEFAULT_CONFIGURATION_NAME = 'image-rewriter';
export const DEFAULT_TIMEOUT_SECONDS = 5;
/** The API server accepts 1..30 seconds. */
export const MIN_TIMEOUT_SECONDS = 1;
export const MAX_TIMEOUT_SECONDS = 30;
/** A --ca-bundle larger than this is refused unread (src/serve/certificates.ts bounds its PEM files alike). */
export const MAX_CA_BUNDLE_BYTES = 1024 * 1024;
/** API Gateway's integration timeout for a REST API: past it, it answers 504 (docs: "Amazon API Gateway quotas"). */
const API_GATEWAY_SECONDS = 29;
/**
 * The URL in the mutating-webhook.yaml we ship: a syntactically valid https URL (the API server
 * rejects `<...>`), shaped like API Gateway's, that obviously needs replacing.
 */
export const PLACEHOLDER_URL = 'https://REPLACE_WITH_API_ID.execute-api.REPLACE_WITH_REGION.amazonaws.com/Prod/mutate/REPLACE_WITH_TOKEN';

/** `v1`, `v1beta1`: the versions of AdmissionReview the handler answers, as the configuration names them. */
export const REVIEW_VERSIONS = ADMISSION_REVIEW_VERSIONS.map((v) => v.slice('admission.k8s.io/'.length));

export interface WebhookConfigOptions {
  /** https URL of the endpoint: API Gateway's `.../mutate/<token>`, or `serve`'s. Exactly one of `url` and `service`. */
  readonly url?: string | undefined;
  /** `NAMESPACE/NAME[:PORT]` (port 443 by default): `serve` behind a Service, called at `/mutate/<token>`. */
  readonly service?: string | undefined;
  /** The webhook token, with `service` (a URL carries its own). */
  readonly token?: string | undefined;
  /** PEM of the CA that signed the endpoint's certificate; omit for a publicly trusted endpoint (API Gateway). */
  readonly caBundlePem?: string | undefined;
  readonly timeoutSeconds?: number | undefined;
  /** `Ignore` (default: fail open) or `Fail` (what makes a rule's `onMissing: deny` certain). */
  readonly failurePolicy?: FailurePolicy | undefined;
  /** metadata.name of the configuration (default `image-rewriter`). */
  readonly name?: string | undefined;
  /** Default `['v1', 'v1beta1']`. */
  readonly admissionReviewVersions?: readonly string[] | undefined;
  /** What the API server sends (default `pods`). */
  readonly scope?: Scope | undefined;
  /** The rules to derive a CEL matchCondition from; none when omitted. */
  readonly rules?: readonly Pick<CompiledRule, 'kind' | 'pattern'>[] | undefined;
  /**
   * The rules document's `allowOptOut` (default true). False: the opt-out label selects nothing
   * out, so that the API server sends what the handler would rewrite anyway.
   */
  readonly allowOptOut?: boolean | undefined;
  /** True: only namespaces labelled `OPT_IN_LABEL=OPT_IN_VALUE` are sent (default false: every namespace but the excluded). */
  readonly optIn?: boolean | undefined;
}

export const SCOPES = ['pods', 'all'] as const satisfies readonly Scope[];
export const FAILURE_POLICIES = ['Ignore', 'Fail'] as const;
export type FailurePolicy = (typeof FAILURE_POLICIES)[number];
export const DEFAULT_SCOPE: Scope = 'pods';

/** The flags (or options) cannot make a valid configuration; every problem is listed. */
export class WebhookConfigError extends Error {
  override readonly name = 'WebhookConfigError';
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(problems.join('\n'));
    this.problems = problems;
  }
}

interface LabelSelectorRequirement {
  readonly key: string;
  readonly operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  readonly values?: readonly string[];
}

interface RuleWithOperations {
  readonly apiGroups: readonly string[];
  readonly apiVersions: readonly string[];
  readonly operations: readonly ('CREATE' | 'UPDATE')[];
  readonly resources: readonly string[];
  readonly scope: 'Namespaced';
}

/** The parts of admissionregistration.k8s.io/v1 MutatingWebhookConfiguration this command writes. */
export interface MutatingWebhookConfiguration {
  readonly apiVersion: 'admissionregistration.k8s.io/v1';
  readonly kind: 'MutatingWebhookConfiguration';
  readonly metadata: { readonly name: string; readonly labels: Readonly<Record<string, string>> };
  readonly webhooks: readonly {
    readonly name: string;
    readonly admissionReviewVersions: readonly string[];
    readonly clientConfig: ClientConfig;
    readonly failurePolicy: FailurePolicy;
    readonly matchPolicy: 'Equivalent';
    readonly reinvocationPolicy: 'IfNeeded';
    readonly sideEffects: 'None';
    readonly timeoutSeconds: number;
    readonly namespaceSelector: { readonly matchExpressions: readonly LabelSelectorRequirement[] };
    readonly objectSelector: { readonly matchExpressions: readonly LabelSelectorRequirement[] };
    readonly rules: readonly RuleWithOperations[];
    readonly matchConditions?: readonly MatchCondition[];
  }[];
}

const OPERATIONS = ['CREATE', 'UPDATE'] as const;

/** Every resource (and subresource) whose pod spec the handler rewrites (`--scope all`): the core's list, one rule per API group. */
export const RULES: readonly RuleWithOperations[] = rulesOfTypes(WORKLOAD_TYPES);

function rulesOfTypes(types: readonly WorkloadType[]): RuleWithOperations[] {
  const byGroup = new Map<string, string[]>();
  for (const t of types) {
    const resources = byGroup.get(t.group) ?? [];
    resources.push(t.resource, ...t.subresources.map((s) => `${t.resource}/${s}`));
    byGroup.set(t.group, resources);
  }
  return [...byGroup].map(([group, resources]) => ({ apiGroups: [group], apiVersions: ['v1'], operations: OPERATIONS, resources, scope: 'Namespaced' }));
}

/** Pods and `kubectl debug`'s subresource only (`--scope pods`). */
export const POD_RULES: readonly RuleWithOperations[] = rulesOfTypes(WORKLOAD_TYPES.filter((t) => t.kind === 'Pod'));

/** The configuration's rules for a `--scope`. */
export const rulesFor = (scope: Scope): readonly RuleWithOperations[] => (scope === 'pods' ? POD_RULES : RULES);

/** Namespaces never sent to the webhook. */
export const EXCLUDED_NAMESPACES = ['kube-system'] as const;

const ENDPOINT_REQUIRED =
  '--url URL is required (API Gateway: https://<api>.execute-api.<region>.amazonaws.com/Prod/mutate/<token>), or --service NAMESPACE/NAME[:PORT] --token TOKEN for serve behind a Service';
const ENDPOINT_TWICE = 'give --url or --service, not both (--url for an endpoint the API server reaches by URL, --service for serve behind a Service)';

/** The clientConfig, or every problem with the options. */
function endpointOf(options: WebhookConfigOptions): { readonly clientConfig?: ClientConfig; readonly problems: string[] } {
  const problems: string[] = [];
  let clientConfig: ClientConfig | undefined;
  const caBundle = options.caBundlePem === undefined ? {} : { caBundle: Buffer.from(options.caBundlePem, 'utf8').toString('base64') };
  if ((options.url === undefined) === (options.service === undefined)) {
    problems.push(options.url === undefined ? ENDPOINT_REQUIRED : ENDPOINT_TWICE);
  } else if (options.url !== undefined) {
    const urlP = urlProblem(options.url);
    if (urlP !== undefined) problems.push(urlP);
    if (options.token !== undefined) problems.push('--token goes with --service: with --url, the token is the last segment of the URL (/mutate/<token>)');
    clientConfig = { url: options.url, ...caBundle };
  } else if (options.service !== undefined) {
    const parsed = parseService(options.service, options.token);
    problems.push(...parsed.problems);
    clientConfig = parsed.service === undefined ? undefined : { service: parsed.service, ...caBundle };
  }
  const t = options.timeoutSeconds;
  if (t !== undefined && !(Number.isInteger(t) && t >= MIN_TIMEOUT_SECONDS && t <= MAX_TIMEOUT_SECONDS)) {
    problems.push(`--timeout-seconds must be a whole number from ${MIN_TIMEOUT_SECONDS} to ${MAX_TIMEOUT_SECONDS} (API Gateway gives up after 29 s; keep it short): ${String(t)}`);
  }
  const name = options.name;
  if (name !== undefined && !isDnsSubdomain(name)) {
    problems.push(`--name must be a Kubernetes object name (lower-case letters, digits, "-" and ".", at most 253 characters): ${shownValue(name)}`);
  }
  const versions = options.admissionReviewVersions;
  if (versions !== undefined) {
    if (versions.length === 0) problems.push(`--admission-review-versions must list at least one of ${REVIEW_VERSIONS.join(', ')}`);
    for (const v of versions) {
      if (!REVIEW_VERSIONS.includes(v)) problems.push(`--admission-review-versions: "${oneLine(v)}" is not one of ${REVIEW_VERSIONS.join(', ')}`);
    }
    if (new Set(versions).size !== versions.length) problems.push('--admission-review-versions must not repeat a version');
  }
  if (options.failurePolicy !== undefined && !FAILURE_POLICIES.includes(options.failurePolicy)) problems.push(`--failure-policy must be Ignore or Fail: ${oneLine(options.failurePolicy)}`);
  if (options.scope !== undefined && !SCOPES.includes(options.scope)) problems.push(`--scope must be one of ${SCOPES.join(', ')}: ${oneLine(options.scope)}`);
  if (options.caBundlePem !== undefined) {
    const p = caBundleProblem(options.caBundlePem);
    if (p !== undefined) problems.push(p);
  }
  return problems.length === 0 && clientConfig !== undefined ? { clientConfig, problems } : { problems };
}

/** The MutatingWebhookConfiguration for these options; throws `WebhookConfigError` listing every problem. */
export function webhookConfiguration(options: WebhookConfigOptions): MutatingWebhookConfiguration {
  const { clientConfig, problems } = endpointOf(options);
  if (clientConfig === undefined) throw new WebhookConfigError(problems);
  const optOut: LabelSelectorRequirement = { key: SKIP_LABEL, operator: 'NotIn', values: [SKIP_VALUE] };
  const optIn: LabelSelectorRequirement = { key: OPT_IN_LABEL, operator: 'In', values: [OPT_IN_VALUE] };
  const scope = options.scope ?? DEFAULT_SCOPE;
  const conditions = matchConditions(options.rules, scope);
  const optOutAllowed = options.allowOptOut !== false;
  // `serve` behind a Service: its own namespace is never sent either, so that its Pods never
  // depend on it (their image rewritten to a mirror that lacks it, by the replica still running).
  const own = 'service' in clientConfig ? clientConfig.service.namespace : undefined;
  const excluded = own === undefined || EXCLUDED_NAMESPACES.some((n) => n === own) ? [...EXCLUDED_NAMESPACES] : [...EXCLUDED_NAMESPACES, own];
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: options.name ?? DEFAULT_CONFIGURATION_NAME, labels: { 'app.kubernetes.io/name': 'image-rewriter' } },
    webhooks: [
      {
        name: WEBHOOK_NAME,
        admissionReviewVersions: [...(options.admissionReviewVersions ?? REVIEW_VERSIONS)],
        clientConfig,
        failurePolicy: options.failurePolicy ?? 'Ignore',
        matchPolicy: 'Equivalent',
        reinvocationPolicy: 'IfNeeded',
        sideEffects: 'None',
        timeoutSeconds: options.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS,
        namespaceSelector: {
          matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: excluded }, ...(optOutAllowed ? [optOut] : []), ...(options.optIn === true ? [optIn] : [])],
        },
        objectSelector: { matchExpressions: optOutAllowed ? [optOut] : [] },
        rules: rulesFor(scope),
        ...(conditions.length === 0 ? {} : { matchConditions: conditions }),
      },
    ],
  };
}

/** The YAML text: `header` lines as a comment, then the object. */
export function toYaml(config: MutatingWebhookConfiguration, header: readonly string[]): string {
  // No anchors and aliases: the same selector twice stays written out twice, as people write it.
  const doc = new Document(config, { aliasDuplicateObjects: false });
  const comment = header.map((l) => (l === '' ? '#' : `# ${l}`)).join('\n');
  return `${comment}\n\n${doc.toString({ lineWidth: 0 })}`;
}

/** What the header comment says; `commandLine` is how to make the same output again. */
export function headerLines(options: WebhookConfigOptions, commandLine: string): string[] {
  const scope = options.scope ?? DEFAULT_SCOPE;
  const lines = [
    scope === 'pods'
      ? 'MutatingWebhookConfiguration for image-rewriter: rewrites container image references in Pods,'
      : 'MutatingWebhookConfiguration for image-rewriter: rewrites container image references in Pods',
    scope === 'pods' ? 'before the API server stores them.' : 'and in the pod templates of workloads, before the API server stores them.',
    '',
    `Generated by: ${commandLine}`,
    'To change it, run the command again with other flags rather than editing it by hand.',
  ];
  const service = options.service === undefined ? undefined : parseService(options.service, options.token).service;
  if (service !== undefined) {
    lines.push(
      '',
      `The API server calls the Service ${service.namespace}/${service.name} on port ${service.port} (at /mutate/<token>), over TLS:`,
      `the certificate of serve must name ${serviceHost(service)}, and caBundle is the CA that signed it.`,
    );
  }
  if (options.url === PLACEHOLDER_URL) {
    lines.push(
      '',
      'The URL below is a placeholder. Replace it with your endpoint: the APIGatewayURL output of the',
      'stack (it ends in /mutate/), followed by the webhook token, which the endpoint requires, e.g.',
      '  https://a1b2c3d4e5.execute-api.us-west-2.amazonaws.com/Prod/mutate/<token>',
      'or generate the file for it:',
      '  image-rewriter webhook-config --url "https://.../Prod/mutate/$WEBHOOK_TOKEN" > mutating-webhook.yaml',
      'API Gateway has a publicly trusted certificate, so no caBundle is needed. For `image-rewriter serve`',
      'with your own CA, add --ca-bundle ca.crt.',
    );
  }
  const never = service === undefined || EXCLUDED_NAMESPACES.some((n) => n === service.namespace) ? 'kube-system is' : `kube-system and ${service.namespace} (serve's own) are`;
  lines.push(
    '',
    options.failurePolicy === 'Fail'
      ? 'failurePolicy Fail: when the webhook is down or slow, the API server refuses what it would send (a rule\'s onMissing: deny is certain).'
      : 'failurePolicy Ignore: when the webhook is down or slow, Pods are admitted unchanged (fail open).',
    `timeoutSeconds: ${options.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS}${service === undefined ? ' (API Gateway gives up after 29 s)' : ''}.`,
    options.allowOptOut === false
      ? `Opt out: not allowed by the rules (allowOptOut: false), so the ${SKIP_LABEL} label is not a selector. ${never} never sent.`
      : `Opt out: label a namespace or an object ${SKIP_LABEL}=${SKIP_VALUE}. ${never} never sent.`,
    ...(options.optIn === true ? [`Opt in: only namespaces labelled ${OPT_IN_LABEL}=${OPT_IN_VALUE} are sent (kubectl label namespace NS ${OPT_IN_LABEL}=${OPT_IN_VALUE}).`] : []),
    scope === 'pods'
      ? 'Scope pods: Deployments and other workloads are stored as applied (no GitOps drift); their Pods are rewritten.'
      : "Scope all: pod templates of workloads are rewritten too (shown at kubectl apply; Argo CD's default diff sees drift).",
  );
  if (scope === 'all') lines.push('matchCondition not-deployment-replicaset: a ReplicaSet a Deployment controls is not sent (the webhook leaves it as its controller made it).');
  if (options.rules !== undefined) {
    // With --scope all, the ReplicaSet condition above is there either way: this one is named.
    const [none, some, every] =
      scope === 'all' ? ['No matchCondition image-could-be-rewritten', 'matchCondition image-could-be-rewritten', 'every object but those ReplicaSets is sent'] : ['matchConditions: none', 'matchConditions', 'every object is sent'];
    lines.push(
      options.rules.length > 0 && matchConditionExpression(options.rules, scope) === undefined
        ? imageRegex(options.rules) === undefined
          ? `${none} (a rule can match any image, so ${every}).`
          : `${none} (the rules' prefixes are too many for a condition within the API server's CEL limits, so ${every}).`
        : `${some}: only objects with an image the rules could rewrite are sent; generate again when the rules change.`,
    );
    // The API server reinvokes only webhooks it called in the first round (k8s.io/apiserver mutating dispatcher).
    if (options.rules.length > 0 && matchConditionExpression(options.rules, scope) !== undefined) {
      lines.push(
        'The condition sees the object before the webhooks of configurations named after this one, and the API server never reinvokes a webhook it',
        'skipped: images they add (a sidecar injector) stay upstream, unless --name sorts this one after theirs (delete the old one) or --config is left out.',
      );
    }
  }
  return lines;
}

/** A flag value quoted for a POSIX shell when it needs it. */
export const shellQuote = (s: string): string => (/^[A-Za-z0-9_./:=,@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

function parseTimeout(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text.trim())) {
    throw new UsageError(`--timeout-seconds must be a whole number from ${MIN_TIMEOUT_SECONDS} to ${MAX_TIMEOUT_SECONDS}: ${oneLine(text)}`);
  }
  return Number(text.trim());
}

export const command: Command = async (args, io) => {
  const { values } = parseFlags({
    args,
    options: {
      url: { type: 'string' },
      service: { type: 'string' },
      token: { type: 'string' },
      'ca-bundle': { type: 'string' },
      'timeout-seconds': { type: 'string' },
      'failure-policy': { type: 'string' },
      name: { type: 'string' },
      'admission-review-versions': { type: 'string' },
      scope: { type: 'string' },
      config: { type: 'string' },
      'opt-in': { type: 'boolean' },
    },
    allowPositionals: false,
    strict: true,
  });
  // Before any file is read: which endpoint is the first thing to get right.
  if (values.url === undefined && values.service === undefined) throw new UsageError(ENDPOINT_REQUIRED);
  if (values.url !== undefined && values.service !== undefined) throw new UsageError(ENDPOINT_TWICE);
  let caBundlePem: string | undefined;
  const caFile = values['ca-bundle'];
  if (caFile !== undefined) {
    // Bounded, as serve's certificate files are: read whole, --ca-bundle /dev/zero took what memory node gives a string.
    let bytes: Buffer;
    try {
      bytes = await readUpTo(caFile, MAX_CA_BUNDLE_BYTES + 1);
    } catch (e) {
      io.stderr(`error: cannot read --ca-bundle ${caFile}: ${describeSystemError(e)}\n`);
      return EXIT.failure;
    }
    if (bytes.length > MAX_CA_BUNDLE_BYTES) {
      io.stderr(`error: cannot read --ca-bundle ${caFile}: larger than ${String(MAX_CA_BUNDLE_BYTES)} bytes, not a bundle of PEM certificates\n`);
      return EXIT.failure;
    }
    caBundlePem = bytes.toString('utf8');
  }
  const versionsText = values['admission-review-versions'];
  const scopeText = values.scope;
  const policyText = values['failure-policy'];
  if (policyText !== undefined && !FAILURE_POLICIES.some((p) => p === policyText)) throw new UsageError(`--failure-policy must be Ignore or Fail: ${oneLine(policyText)}`);
  if (scopeText !== undefined && !SCOPES.some((s) => s === scopeText)) throw new UsageError(`--scope must be one of ${SCOPES.join(', ')}: ${oneLine(scopeText)}`);
  let rules: readonly CompiledRule[] | undefined;
  let allowOptOut: boolean | undefined;
  if (values.config !== undefined) {
    const read = await readConditionRules(values.config, io);
    if (read === undefined) return EXIT.invalidConfig;
    ({ rules, allowOptOut } = read);
  }
  const options: WebhookConfigOptions = {
    scope: SCOPES.find((s) => s === scopeText),
    rules,
    allowOptOut,
    optIn: values['opt-in'],
    url: values.url,
    service: values.service,
    token: values.token,
    caBundlePem,
    timeoutSeconds: parseTimeout(values['timeout-seconds']),
    failurePolicy: FAILURE_POLICIES.find((p) => p === policyText),
    name: values.name,
    admissionReviewVersions: versionsText?.split(',').map((v) => v.trim()),
  };
  let config: MutatingWebhookConfiguration;
  try {
    config = webhookConfiguration(options);
  } catch (e) {
    if (e instanceof WebhookConfigError) throw new UsageError(e.problems.join('\nerror: '));
    throw e;
  }
  const [webhook] = config.webhooks;
  const host = webhook === undefined ? undefined : privateHostWithoutCa(webhook.clientConfig);
  for (const w of endpointWarnings(values.url, options.failurePolicy)) io.stderr(`warning: ${w}\n`);
  // 30 is the API server's most, one second past API Gateway's: that second is only waiting.
  if (values.url !== undefined && options.timeoutSeconds !== undefined && options.timeoutSeconds > API_GATEWAY_SECONDS) {
    io.stderr(`warning: --timeout-seconds ${String(options.timeoutSeconds)}: API Gateway answers 504 after ${String(API_GATEWAY_SECONDS)} s, so behind it the API server waits the last second for nothing (the stack's function stops at 10 s; the default 5 s keeps a hung endpoint from adding more to each kubectl apply)\n`);
  }
  // serve's own namespace is never sent (webhookConfiguration): in a namespace shared with
  // workloads, theirs would silently go unrewritten.
  const own = webhook !== undefined && 'service' in webhook.clientConfig ? webhook.clientConfig.service.namespace : undefined;
  if (own === 'default') io.stderr(`warning: serve's namespace ${own} is never sent to the webhook (its own Pods must not depend on it), so no Pod in ${own} is rewritten; run serve in a namespace of its own\n`);
  if (host !== undefined) io.stderr(`warning: no --ca-bundle: the API server will check ${host}'s certificate against its system trust roots; give the CA that signed it\n`);
  const flags = [
    ['--url', values.url],
    ['--service', values.service],
    ['--token', values.token],
    ['--ca-bundle', caFile],
    ['--timeout-seconds', values['timeout-seconds']?.trim()],
    ['--failure-policy', policyText],
    ['--name', values.name],
    ['--admission-review-versions', versionsText],
    ['--scope', scopeText],
    ['--config', values.config],
  ] as const;
  const commandLine = ['image-rewriter webhook-config', ...flags.flatMap(([flag, v]) => (v === undefined ? [] : [`${flag} ${shellQuote(v)}`])), ...(values['opt-in'] === true ? ['--opt-in'] : [])].join(' ');
  io.stdout(toYaml(config, headerLines(options, commandLine)));
  return EXIT.ok;
};
