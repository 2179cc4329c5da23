// One cold start for the benchmark (bench/lib/coldstart.ts spawns it): a fresh node process that
// reads an API Gateway REST event from a file, answers it, prints the answer on one line starting
// with "ANSWER " and exits. With a module path it imports that module (dist/handler.js) and calls
// its `handler`, as the Lambda runtime does; with `--baseline` it imports nothing and answers with
// a trivial function (what node itself costs).
//
// Both make their stdout stream before the import, as the Lambda runtime has its own streams and
// HTTP client loaded before it imports the handler. Made after it, the stream's Node modules would be
// compiled after the handler's init has changed a V8 flag (src/config/regex-fallback.ts), which
// makes V8 refuse Node's code cache for them: about 1.5 ms more than the baseline pays for the same
// modules, a cost the Lambda never sees (docs/performance.md, "fourteenth pass").
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const [target, eventFile] = process.argv.slice(2);
const stdout = process.stdout;
const context = {
  callbackWaitsForEmptyEventLoop: true,
  functionName: 'image-rewriter',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-west-2:123456789012:function:image-rewriter',
  memoryLimitInMB: '256',
  awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e8deadbeef',
  logGroupName: '/aws/lambda/image-rewriter',
  logStreamName: 'cold',
  getRemainingTimeInMillis: () => 10_000,
};
const handler =
  target === '--baseline'
    ? async (event) => ({ statusCode: 200, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ ok: typeof event.body === 'string' }), isBase64Encoded: false })
    : (await import(pathToFileURL(target).href)).handler;
const event = JSON.parse(readFileSync(eventFile, 'utf8'));
const result = await handler(event, context);
stdout.write(`ANSWER ${JSON.stringify(result)}\n`);
process.exit(0);
