/**
 * Read-only listing of a live cluster for `audit`, through @kubernetes/client-node (loaded here
 * only, and only when `audit` runs without `-f`). Every kind is listed page by page (`limit` and
 * `continue`), so memory holds one page at a time whatever the size of the cluster; nothing but
 * `list` is ever called (the RBAC a user needs is in README.md, "Find what still pulls from upstream").
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { KubernetesObject } from '@kubernetes/client-node';
import { own } from '../core/json.js';
import { workloadTypeOfKind, type WorkloadType } from '../core/workload.js';

/** The error of one list call, said plainly (`forbidden: User "x" cannot list resource "pods" ...`). */
export class ListError extends Error {
  override readonly name = 'ListError';
}

export interface ClusterOptions {
  /** `--kubeconfig`, else the first file of KUBECONFIG, else ~/.kube/config, else in-cluster. */
  readonly kubeconfig: string | undefined;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Only this namespace (else all namespaces). */
  readonly namespace: string | undefined;
  readonly pageSize: number;
}

/** One page of objects of one kind. */
export interface Page {
  readonly type: WorkloadType;
  readonly apiVersion: string;
  readonly items: readonly unknown[];
}

export interface Cluster {
  /** The server the kubeconfig points at, for messages. */
  readonly server: string;
  /** Every object of `kind`, page by page. Throws ListError when a call fails. */
  pages(kind: string): AsyncGenerator<Page>;
}

/** apiVersion of each kind audit lists (the versions every supported Kubernetes serves). */
export const API_VERSIONS: Readonly<Record<string, string>> = {
  Pod: 'v1',
  Deployment: 'apps/v1',
  ReplicaSet: 'apps/v1',
  StatefulSet: 'apps/v1',
  DaemonSet: 'apps/v1',
  Job: 'batch/v1',
  CronJob: 'batch/v1',
  ReplicationController: 'v1',
  PodTemplate: 'v1',
};

function kubeconfigPath(options: ClusterOptions): string | undefined {
  if (options.kubeconfig !== undefined) return options.kubeconfig;
  const first = options.env['KUBECONFIG']?.split(':').find((p) => p !== '');
  if (first !== undefined) return first;
  const home = options.env['HOME'];
  const path = home === undefined ? undefined : join(home, '.kube', 'config');
  return path !== undefined && existsSync(path) ? path : undefined;
}

/** The message of a failed call: the API server's Status message when there is one. */
function describeFailure(e: unknown): string {
  const error = e as { code?: unknown; body?: unknown; message?: unknown };
  let message = typeof error.message === 'string' ? error.message : String(e);
  if (typeof error.body === 'string') {
    try {
      const status = JSON.parse(error.body) as { message?: unknown; reason?: unknown };
      if (typeof status.message === 'string') message = status.message;
    } catch {
      // not a Status: keep the error's own message
    }
  }
  return typeof error.code === 'number' ? `HTTP ${error.code}: ${message}` : message;
}

/** Connect to the cluster of the kubeconfig (no call is made until the first page). */
export async function openCluster(options: ClusterOptions): Promise<Cluster> {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  const path = kubeconfigPath(options);
  try {
    if (path === undefined) kc.loadFromDefault();
    else kc.loadFromFile(path);
  } catch (e) {
    throw new ListError(`cannot load the kubeconfig${path === undefined ? '' : ` ${path}`}: ${(e as Error).message}`);
  }
  const server = kc.getCurrentCluster()?.server;
  if (server === undefined) throw new ListError(`the kubeconfig${path === undefined ? '' : ` ${path}`} has no current cluster`);
  const api = k8s.KubernetesObjectApi.makeApiClient(kc);
  async function* pages(kind: string): AsyncGenerator<Page> {
    const apiVersion = API_VERSIONS[kind];
    const type = apiVersion === undefined ? undefined : workloadTypeOfKind(apiVersion.includes('/') ? (apiVersion.split('/')[0] ?? '') : '', kind);
    if (apiVersion === undefined || type === undefined) throw new ListError(`cannot list ${kind}: not a kind with a pod spec`);
    const where = options.namespace === undefined ? 'in all namespaces' : `in namespace ${options.namespace}`;
    let token: string | undefined;
    do {
      let list;
      try {
        list = await api.list<KubernetesObject>(apiVersion, kind, options.namespace, undefined, undefined, undefined, undefined, undefined, options.pageSize, token);
      } catch (e) {
        throw new ListError(`cannot list ${type.resource} ${where} (${server}): ${describeFailure(e)}`);
      }
      yield { type, apiVersion, items: list.items };
      // The client keeps `continue` under the name its model gives it, or as sent when it has no model.
      const meta: unknown = list.metadata;
      const next = own(meta, '_continue') ?? own(meta, 'continue');
      token = typeof next === 'string' ? next : undefined;
    } while (token !== undefined && token !== '');
  }
  return { server, pages };
}
