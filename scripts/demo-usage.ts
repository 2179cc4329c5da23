/**
 * The "Try your own manifests" lines `npm run demo` prints (scripts/demo.ts): commands a person
 * pastes into another terminal, so every path in them is quoted for a POSIX shell (a TMPDIR or a
 * cache folder with a space in its name made `export KUBECONFIG=...` export half a path).
 */
import { shellQuote } from '../src/cli/webhook-config.js';

export interface DemoPaths {
  readonly kubeconfig: string;
  /** The folder of the kubectl built for the demo's cluster. */
  readonly binDir: string;
  readonly rules: string;
  readonly webhookLog: string;
  readonly logs: string;
}

/** The lines, in order. */
export function usageLines(p: DemoPaths): string[] {
  return [
    'Try your own manifests (in another terminal):',
    `  export KUBECONFIG=${shellQuote(p.kubeconfig)}`,
    `  export PATH=${shellQuote(p.binDir)}:"$PATH"   # the kubectl built for this cluster (any recent kubectl works too)`,
    "  kubectl get pods -l app=nginx-gcr -o jsonpath='{.items[0].spec.containers[0].image}'",
    '  kubectl run hello --image=gcr.io/google-samples/hello-app:1.0        # stored as asia.gcr.io/google-samples/hello-app:1.0',
    '  kubectl create deployment web --image=nginx:1.27 --dry-run=server -o yaml   # docker.io -> mirror.example.com/hub',
    '  kubectl apply -f my-manifest.yaml',
    `Rules: ${p.rules} (edit it: serve reloads it)`,
    `Webhook log: tail -f ${shellQuote(p.webhookLog)}`,
    `All logs: ${p.logs}`,
  ];
}
