#!/usr/bin/env node
// Minimal Lambda Runtime API client (alternative to the native `aws-lambda-ric` package, for tests only).
// Env: AWS_LAMBDA_RUNTIME_API (set by RIE), LAMBDA_TASK_ROOT (default cwd), _HANDLER ("file.export",
// or the last CLI arg). Loads <root>/<file>{.mjs,.js,.cjs} via import(); no streaming, no callbacks.
import { statSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const api = `http://${process.env.AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime`;
const root = process.env.LAMBDA_TASK_ROOT || process.cwd();
const spec = process.env._HANDLER || process.argv[2] || "";

const errBody = (e) => JSON.stringify({
  errorType: e?.name || "Error",
  errorMessage: e?.message ?? String(e),
  trace: String(e?.stack || "").split("\n"),
});
const post = (path, body, headers = {}) => fetch(`${api}${path}`, {
  method: "POST", body, headers: { "content-type": "application/json", ...headers },
});

async function loadHandler() {
  const dot = spec.lastIndexOf(".");
  if (dot <= 0) throw Object.assign(new Error(`bad handler '${spec}'`), { name: "Runtime.MalformedHandlerName" });
  const base = resolve(root, spec.slice(0, dot));
  const file = ["", ".mjs", ".js", ".cjs"].map((x) => base + x).find((f) => statSync(f, { throwIfNoEntry: false })?.isFile());
  if (!file) throw Object.assign(new Error(`cannot find module ${base}`), { name: "Runtime.ImportModuleError" });
  const mod = await import(pathToFileURL(file).href);
  const fn = spec.slice(dot + 1).split(".").reduce((o, k) => o?.[k], mod) ??
    spec.slice(dot + 1).split(".").reduce((o, k) => o?.[k], mod.default);
  if (typeof fn !== "function") throw Object.assign(new Error(`${spec} is not a function`), { name: "Runtime.HandlerNotFound" });
  return fn;
}

let handler;
try {
  handler = await loadHandler();
} catch (e) {
  console.error("Init error", e);
  await post("/init/error", errBody(e), { "Lambda-Runtime-Function-Error-Type": e?.name || "Runtime.Unknown" });
  process.exit(1);
}

for (;;) {
  const res = await fetch(`${api}/invocation/next`);
  const h = (k) => res.headers.get(k) ?? undefined;
  const id = h("lambda-runtime-aws-request-id");
  const deadline = Number(h("lambda-runtime-deadline-ms"));
  if (h("lambda-runtime-trace-id")) process.env._X_AMZN_TRACE_ID = h("lambda-runtime-trace-id");
  const cc = h("lambda-runtime-client-context");
  const context = {
    awsRequestId: id,
    invokedFunctionArn: h("lambda-runtime-invoked-function-arn"),
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    clientContext: cc ? JSON.parse(cc) : undefined,
    getRemainingTimeInMillis: () => deadline - Date.now(),
    callbackWaitsForEmptyEventLoop: false,
  };
  try {
    const text = await res.text();
    const result = await handler(text ? JSON.parse(text) : {}, context);
    await post(`/invocation/${id}/response`, JSON.stringify(result ?? null));
  } catch (e) {
    console.error("Invoke error", e);
    await post(`/invocation/${id}/error`, errBody(e), { "Lambda-Runtime-Function-Error-Type": e?.name || "Error" });
  }
}
