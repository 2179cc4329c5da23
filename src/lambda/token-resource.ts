/**
 * The CloudFormation custom resource that gives each stack its webhook token (template.yaml's
 * `WebhookToken`, its own small Lambda function): the token is generated at deploy time and
 * stored in an SSM SecureString (the aws/ssm key, or KmsKeyId: below), which CloudFormation cannot create itself. The
 * webhook function reads it at its cold start through `WEBHOOK_TOKEN_PARAMETER`
 * (src/config/settings.ts). The token is never returned to CloudFormation (the answer has no
 * `Data`), so it is in no template, output, attribute or function configuration.
 *
 * - Create: a fresh token (32 random bytes, base64url: 43 characters of `A-Za-z0-9_-`) written
 *   with overwrite: a new resource always gets a new token.
 * - Update: the token is kept. The parameter is written only when it does not exist (deleted by
 *   hand: an Update writes a new token). CloudFormation sends an Update only when the resource's
 *   properties change (its ParameterName, KmsKeyId), so a deploy that changes neither does not
 *   restore a deleted token (README, Troubleshooting). A new `ParameterName` is a new physical
 *   resource: CloudFormation then deletes the old one.
 * - `KmsKeyId` (template.yaml's KmsKeyArn; absent: the aws/ssm key) encrypts the SecureString. An
 *   Update that changes it (a rollback included) re-encrypts the same token under the new key: read,
 *   then written again with that key, so the clusters' webhook URL stays valid. A value that cannot
 *   be read fails the Update (CloudFormation rolls back, the token and its key as they were): an
 *   AccessDenied can be the IAM grant of this same deploy not yet in effect, and a token replaced
 *   then would silently break every cluster's webhook URL. A parameter deleted by hand gets a new
 *   token, as an Update without a key change does.
 * - Delete: the parameter is deleted (already gone is fine). A resource whose Create failed has a
 *   physical id that is not its parameter name, and deleting it deletes nothing.
 *
 * The answer is a PUT of JSON to the pre-signed `ResponseURL`, always sent, failures included (the
 * stack would otherwise wait an hour). A small hand-written responder rather than the `cfn-response`
 * module: that one exists only for inline (ZipFile) code, and this function is bundled.
 */
import { randomBytes } from 'node:crypto';
import type { SSMClient } from '@aws-sdk/client-ssm';
import * as z from 'zod/mini';

/** Parameter names this resource accepts (SSM's own alphabet, a path). */
const PARAMETER_NAME = /^\/[A-Za-z0-9_.\-/]{1,1010}$/;

const eventSchema = z.object({
  RequestType: z.enum(['Create', 'Update', 'Delete']),
  ResponseURL: z.string().check(z.minLength(1)),
  StackId: z.string(),
  RequestId: z.string(),
  LogicalResourceId: z.string(),
  PhysicalResourceId: z.optional(z.string()),
  ResourceProperties: z.looseObject({ ParameterName: z.optional(z.unknown()), KmsKeyId: z.optional(z.unknown()) }),
  OldResourceProperties: z.optional(z.looseObject({ KmsKeyId: z.optional(z.unknown()) })),
});
export type TokenResourceEvent = z.infer<typeof eventSchema>;

/** What is PUT to the ResponseURL (CloudFormation's custom resource response object). */
export interface TokenResourceResponse {
  readonly Status: 'SUCCESS' | 'FAILED';
  readonly Reason?: string;
  readonly PhysicalResourceId: string;
  readonly StackId: string;
  readonly RequestId: string;
  readonly LogicalResourceId: string;
  readonly NoEcho: true;
}

export interface TokenResourceDeps {
  /** The SSM client, built at the first use (the runtime provides the SDK). */
  readonly ssm: () => Promise<SSMClient>;
  /** Sends the answer; default an HTTPS PUT to the ResponseURL. */
  readonly respond?: (url: string, response: TokenResourceResponse) => Promise<void>;
  /** A new token; default 32 random bytes, base64url. */
  readonly newToken?: () => string;
  /** One line per request (never the token); default console.log of JSON. */
  readonly log?: (fields: Record<string, unknown>) => void;
}

export const newToken = (): string => randomBytes(32).toString('base64url');

/**
 * Kept back from the function's remaining time to send the answer. A function stopped by its
 * Timeout answers nothing, and the stack waits its ServiceTimeout (template.yaml) for the answer:
 * an SSM call that hung held the deploy 10 minutes, then failed it without a reason.
 */
const ANSWER_RESERVE_MS = 5000;
/** The SSM calls' bound without a Lambda context (a test, a local run): the template's Timeout (60 s) less the reserve. */
const DEFAULT_WORK_MS = 55_000;
/** Lambda's longest Timeout (15 minutes). */
const MAX_WORK_MS = 900_000;

/** How long the SSM calls may take, from the context's remaining time (absent, or not a number: DEFAULT_WORK_MS). */
function workBudget(context: { readonly getRemainingTimeInMillis?: unknown } | undefined): number {
  const remainingTime = context?.getRemainingTimeInMillis;
  const remaining = typeof remainingTime === 'function' ? Number((remainingTime as () => unknown).call(context)) : Number.NaN;
  if (!Number.isFinite(remaining)) return DEFAULT_WORK_MS;
  // Whole milliseconds within Lambda's longest Timeout: AbortSignal.timeout throws on a fraction.
  return Math.floor(Math.min(Math.max(remaining - ANSWER_RESERVE_MS, remaining / 2, 0), MAX_WORK_MS));
}

/** PUT the answer the way CloudFormation's pre-signed S3 URL expects it (no content type). */
export async function putResponse(url: string, response: TokenResourceResponse): Promise<void> {
  const body = JSON.stringify(response);
  const res = await fetch(url, { method: 'PUT', body, headers: { 'content-type': '', 'content-length': String(Buffer.byteLength(body)) } });
  if (!res.ok) throw new Error(`the ResponseURL answered ${String(res.status)}`);
}

const errorName = (e: unknown): string => (e instanceof Error ? e.name : 'Error');
const errorMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** The KMS key of a resource's properties; blank or absent is the AWS managed key (aws/ssm). */
const kmsKeyOf = (props: { readonly KmsKeyId?: unknown } | undefined): string | undefined =>
  typeof props?.KmsKeyId === 'string' && props.KmsKeyId.trim() !== '' ? props.KmsKeyId.trim() : undefined;

/**
 * The handler: `(event, context) => Promise<void>`; it answers CloudFormation itself and never
 * throws for a bad event. Its SSM calls end ANSWER_RESERVE_MS before the function's time does.
 */
export function createTokenResource(deps: TokenResourceDeps): (event: unknown, context?: { readonly getRemainingTimeInMillis?: unknown }) => Promise<void> {
  const respond = deps.respond ?? putResponse;
  const generate = deps.newToken ?? newToken;
  const log =
    deps.log ??
    ((fields: Record<string, unknown>): void => {
      console.log(JSON.stringify(fields));
    });

  /** The token to write under a new key: the stored one, or a new one when it was deleted by hand. */
  const currentValue = async (ssm: SSMClient, name: string, abortSignal: AbortSignal): Promise<string> => {
    const { GetParameterCommand } = await import('@aws-sdk/client-ssm');
    try {
      const value = (await ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }), { abortSignal })).Parameter?.Value;
      if (value !== undefined && value !== '') return value;
    } catch (e) {
      // No answer in time is not the key's fault: said as for every other call (the handler's Reason).
      if (errorName(e) === 'AbortError') throw e;
      if (errorName(e) !== 'ParameterNotFound') {
        throw new Error(`cannot read the token under its previous key to re-encrypt it (${errorName(e)}: ${errorMessage(e)}); the token is unchanged. Keep the previous key enabled and usable by this stack's roles until the deploy is done, or delete the parameter to get a new token (then register the new webhook URL)`, { cause: e });
      }
    }
    return generate();
  };

  const apply = async (event: TokenResourceEvent, name: string, abortSignal: AbortSignal): Promise<string> => {
    const { PutParameterCommand, DeleteParameterCommand } = await import('@aws-sdk/client-ssm');
    const ssm = await deps.ssm();
    const key = kmsKeyOf(event.ResourceProperties);
    // KeyId only with a key of the stack's own: without one, the request is exactly what it was
    // before KmsKeyArn existed (SSM uses aws/ssm).
    const put = (overwrite: boolean, value = generate(), keyId = key) =>
      ssm.send(new PutParameterCommand({ Name: name, Type: 'SecureString', Value: value, Overwrite: overwrite, Description: `image-rewriter webhook token of ${event.StackId}`, ...(keyId === undefined ? {} : { KeyId: keyId }) }), { abortSignal });
    switch (event.RequestType) {
      case 'Create':
        await put(true);
        return name;
      case 'Update':
        if (event.PhysicalResourceId !== name) {
          await put(true);
        } else if (kmsKeyOf(event.OldResourceProperties) !== key) {
          // Overwriting without a KeyId may keep the old key: name aws/ssm when going back to it.
          await put(true, await currentValue(ssm, name, abortSignal), key ?? 'alias/aws/ssm');
        } else {
          try {
            await put(false);
          } catch (e) {
            if (errorName(e) !== 'ParameterAlreadyExists') throw e;
          }
        }
        return name;
      case 'Delete':
        if (event.PhysicalResourceId === name) {
          try {
            await ssm.send(new DeleteParameterCommand({ Name: name }), { abortSignal });
          } catch (e) {
            if (errorName(e) !== 'ParameterNotFound') throw e;
          }
        }
        return event.PhysicalResourceId ?? name;
    }
  };

  return async (input, context) => {
    const budgetMs = workBudget(context);
    const parsed = eventSchema.safeParse(input);
    if (!parsed.success) {
      // Without a ResponseURL there is no one to answer; CloudFormation never sends such an event.
      log({ level: 'ERROR', message: 'not a CloudFormation custom resource event', issues: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) });
      return;
    }
    const event = parsed.data;
    const rawName = event.ResourceProperties.ParameterName;
    const name = typeof rawName === 'string' ? rawName : '';
    const base = { StackId: event.StackId, RequestId: event.RequestId, LogicalResourceId: event.LogicalResourceId, NoEcho: true } as const;
    let response: TokenResourceResponse;
    const rawKey = event.ResourceProperties.KmsKeyId;
    // A key given in any other form than a string must not quietly become aws/ssm (a Delete needs none).
    const badKey = rawKey !== undefined && typeof rawKey !== 'string' && event.RequestType !== 'Delete';
    if (!PARAMETER_NAME.test(name) || badKey) {
      const reason = badKey ? 'KmsKeyId must be a KMS key ARN (a string)' : 'ParameterName must be an SSM parameter path starting with "/"';
      // A Delete of a resource that never got valid properties has nothing to delete.
      response = event.RequestType === 'Delete'
        ? { ...base, Status: 'SUCCESS', PhysicalResourceId: event.PhysicalResourceId ?? event.LogicalResourceId }
        : { ...base, Status: 'FAILED', Reason: reason, PhysicalResourceId: event.PhysicalResourceId ?? `${event.LogicalResourceId}-not-created` };
    } else {
      try {
        const physicalId = await apply(event, name, AbortSignal.timeout(budgetMs));
        response = { ...base, Status: 'SUCCESS', PhysicalResourceId: physicalId };
      } catch (e) {
        const why = errorName(e) === 'AbortError' ? `SSM did not answer within ${budgetMs} ms (the function's remaining time, less what it keeps to send this answer)` : `${errorName(e)}: ${errorMessage(e)}`;
        const reason = `${event.RequestType} of the token parameter ${name} failed: ${why}`;
        response = { ...base, Status: 'FAILED', Reason: reason, PhysicalResourceId: event.PhysicalResourceId ?? `${event.LogicalResourceId}-not-created` };
      }
    }
    log({ level: response.Status === 'SUCCESS' ? 'INFO' : 'ERROR', message: 'token resource', requestType: event.RequestType, parameter: name, status: response.Status, ...(response.Reason === undefined ? {} : { reason: response.Reason }) });
    await respond(event.ResponseURL, response);
  };
}

let client: Promise<SSMClient> | undefined;

/** The Lambda entry (template.yaml's WebhookTokenFunction, `token-resource.handler`). */
export const handler = createTokenResource({
  ssm: () => (client ??= import('@aws-sdk/client-ssm').then((m) => new m.SSMClient({}))),
});
