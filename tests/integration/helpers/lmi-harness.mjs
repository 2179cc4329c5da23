// Lambda Managed Instances as the Node.js runtime runs a function there (README, "Lambda Managed
// Instances"): one process, LMI_THREADS worker threads, each importing the handler once (its own
// init) and running many invocations at once on it: LMI_ROUNDS rounds of LMI_PER_ROUND overlapping
// invocations, LMI_GAP_MS apart. The main thread makes process.stdout, as the runtime does (a pipe
// then turns non-blocking). Each answer, checked against its request, is written to LMI_RESULTS as
// one JSON line; the handler's own lines go to stdout and stderr as they would on Lambda. Request
// `t<thread>r<round>i<index>`: uid, namespace, request id and trace id all carry it; its Pod has
// gcr.io/team-<id>/app:1 and, for every third, quay.io/team-<id>/side:1 (checked by a `verify`
// rule), and, for every second, 24 more containers of long names (a review line of several KiB).
// Plain JavaScript run by the Lambda's Node.js (tests/integration/lmi-concurrency.integration.ts).
import { appendFileSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { isMainThread, parentPort, threadId, Worker, workerData } from 'node:worker_threads';

const env = process.env;
const number = (name) => Number(env[name]);

if (isMainThread) {
  void process.stdout;
  const threads = number('LMI_THREADS');
  await Promise.all(
    Array.from({ length: threads }, (_, thread) =>
      new Promise((resolve, reject) => {
        const worker = new Worker(new URL(import.meta.url), { workerData: { thread } });
        worker.on('error', reject);
        worker.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`thread ${thread} exited ${code}`))));
      }),
    ),
  );
} else {
  const { thread } = workerData;
  const base = JSON.parse(readFileSync(env['LMI_EVENT'], 'utf8'));
  const { handler } = await import(env['LMI_HANDLER']);
  const invoke = async (round, index) => {
    const id = `t${thread}r${round}i${index}`;
    const containers = [{ name: 'app', image: `gcr.io/team-${id}/app:1` }];
    if (index % 3 === 0) containers.push({ name: 'side', image: `quay.io/team-${id}/side:1` });
    if (index % 2 === 0) for (let c = 0; c < 24; c++) containers.push({ name: `extra-${c}-${'n'.repeat(48)}`, image: `gcr.io/team-${id}/extra-${c}-${'x'.repeat(64)}:1` });
    const review = {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid: `uid-${id}`,
        kind: { group: '', version: 'v1', kind: 'Pod' },
        resource: { group: '', version: 'v1', resource: 'pods' },
        namespace: `ns-${id}`,
        operation: 'CREATE',
        object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: `pod-${id}`, namespace: `ns-${id}` }, spec: { containers } },
      },
    };
    const trace = `1-${String(thread).padStart(8, '0')}-${String(round).padStart(12, '0')}${String(index).padStart(12, '0')}`;
    const context = { awsRequestId: `req-${id}`, xRayTraceId: `Root=${trace};Sampled=0`, invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:image-rewriter', functionName: 'image-rewriter', functionVersion: '$LATEST', memoryLimitInMB: '2048', getRemainingTimeInMillis: () => 10_000 };
    const result = await handler({ ...base, body: JSON.stringify(review), isBase64Encoded: false }, context);
    const response = JSON.parse(result.body).response ?? {};
    const patch = response.patch === undefined ? [] : JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8'));
    const images = Object.fromEntries(patch.filter((op) => /^\/spec\/containers\/\d+\/image$/.test(op.path)).map((op) => [containers[Number(op.path.split('/')[3])].name, op.value]));
    return { id, thread, threadId, status: result.statusCode, uid: response.uid, allowed: response.allowed, images, containers: containers.length };
  };
  const results = [];
  for (let round = 0; round < number('LMI_ROUNDS'); round++) {
    if (round > 0) await sleep(number('LMI_GAP_MS'));
    results.push(...(await Promise.all(Array.from({ length: number('LMI_PER_ROUND') }, (_, index) => invoke(round, index)))));
  }
  appendFileSync(env['LMI_RESULTS'], results.map((r) => `${JSON.stringify(r)}\n`).join(''));
  parentPort.close();
}
