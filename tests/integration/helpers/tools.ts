/**
 * The tools the integration tests need from outside node_modules, found through the environment
 * variables scripts/test-integration.sh exports. A missing tool is an error that names the script
 * providing it: these tests fail, they never skip.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { REPO_ROOT } from '../../helpers/fixtures.js';

/** How to get everything at once. */
const WRAPPER = 'scripts/test-integration.sh (npm run test:integration)';

export class MissingToolError extends Error {
  override readonly name = 'MissingToolError';
}

function fromEnv(variable: string, what: string, script: string): string {
  const value = process.env[variable];
  if (value === undefined || value.trim() === '') {
    throw new MissingToolError(
      `${variable} is not set: it must point at ${what}. Run the tests with ${WRAPPER}, or export ${variable}=$(${script} | tail -n1).`,
    );
  }
  return value;
}

function mustExist(path: string, variable: string, what: string, script: string, executable = false): string {
  try {
    accessSync(path, executable ? constants.X_OK : constants.R_OK);
  } catch {
    throw new MissingToolError(`${variable} must point at ${what}, but ${path} is not ${executable ? 'an executable' : 'a readable file'}. Rebuild it with ${script}.`);
  }
  return path;
}

/** The aws-lambda-rie binary (hack/lambda/build-rie.sh). */
export function rieBinary(): string {
  const script = 'hack/lambda/build-rie.sh';
  const what = 'the AWS Lambda Runtime Interface Emulator binary';
  return mustExist(fromEnv('IMAGE_REWRITER_RIE', what, script), 'IMAGE_REWRITER_RIE', what, script, true);
}

/**
 * The Node.js runtime interface client's bootstrap, `aws-lambda-ric/index.mjs`, under the directory
 * hack/lambda/install-ric.sh prints (or the package directory itself).
 */
export function ricBootstrap(): string {
  const script = 'hack/lambda/install-ric.sh';
  const what = 'the directory where hack/lambda/install-ric.sh installed aws-lambda-ric';
  const dir = fromEnv('IMAGE_REWRITER_RIC_DIR', what, script);
  const candidates = [join(dir, 'node_modules', 'aws-lambda-ric'), dir];
  const pkg = candidates.find((d) => existsSync(join(d, 'index.mjs')) && existsSync(join(d, 'rapid-client.node')));
  if (pkg === undefined) {
    throw new MissingToolError(`IMAGE_REWRITER_RIC_DIR=${dir} holds no built aws-lambda-ric (index.mjs and rapid-client.node). Reinstall it with ${script}.`);
  }
  return join(pkg, 'index.mjs');
}

/**
 * The Node.js the Lambda function runs on (template.yaml's Runtime: nodejs24.x), from
 * hack/node/install-node.sh: what the bundle is run with wherever a test runs it as Lambda would
 * (under the emulator, the SAM artifact, the container image's command line). The tests themselves
 * run on the local Node.js, which may be another major.
 */
export function lambdaNode(): string {
  const script = 'hack/node/install-node.sh';
  const what = "the Node.js binary of the Lambda runtime's version";
  const node = mustExist(fromEnv('IMAGE_REWRITER_LAMBDA_NODE', what, script), 'IMAGE_REWRITER_LAMBDA_NODE', what, script, true);
  if (checkedLambdaNode !== node) {
    // The binary must be the major template.yaml deploys, or these tests would run the bundle on a
    // Node.js no function runs on (hack/node/node.lock pins it; change both together).
    const runtime = /^\s+Runtime: nodejs(\d+)\.x$/m.exec(readFileSync(join(REPO_ROOT, 'template.yaml'), 'utf8'))?.[1];
    const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
    if (runtime === undefined || version.split('.')[0] !== `v${runtime}`) {
      throw new MissingToolError(`IMAGE_REWRITER_LAMBDA_NODE=${node} is Node.js ${version || '(did not run)'}, but template.yaml's Runtime is nodejs${runtime ?? '?'}.x: pin that major in hack/node/node.lock and rerun ${script}.`);
    }
    checkedLambdaNode = node;
  }
  return node;
}
let checkedLambdaNode: string | undefined;

/** `moto_server` in the Python tools venv (hack/python/setup-venv.sh). */
export function motoServer(): string {
  const script = 'hack/python/setup-venv.sh';
  const what = 'the Python tools venv (aws-sam-cli, cfn-lint, moto)';
  const venv = fromEnv('IMAGE_REWRITER_VENV', what, script);
  return mustExist(join(venv, 'bin', 'moto_server'), 'IMAGE_REWRITER_VENV', what, script, true);
}

export const DIST_HANDLER = join(REPO_ROOT, 'dist', 'handler.js');

/** The newest modification time under a directory (recursively), in ms. */
function newest(dir: string): number {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

/** dist/handler.js, checked to exist and to be newer than every file of src/. */
export function distHandler(): string {
  if (!existsSync(DIST_HANDLER)) throw new MissingToolError(`${DIST_HANDLER} does not exist: run npm run build (${WRAPPER} does).`);
  if (statSync(DIST_HANDLER).mtimeMs < newest(join(REPO_ROOT, 'src'))) {
    throw new MissingToolError(`${DIST_HANDLER} is older than src/: run npm run build (${WRAPPER} does), or the tests would compare a stale bundle.`);
  }
  return DIST_HANDLER;
}

/**
 * dist/ copied (once per process) into a temporary directory with no node_modules on the way up from
 * it, as the Lambda's task root has none: its handler.js finds nothing outside the bundle, so the
 * AWS SDK it reads settings with must be in its chunks (scripts/build.mjs bundles it).
 */
let standalone: string | undefined;
export function standaloneDistHandler(): string {
  if (standalone === undefined) {
    sweepStandaloneCopies();
    const dir = mkdtempSync(join(tmpdir(), `${STANDALONE_PREFIX}${process.pid}-`));
    cpSync(dirname(distHandler()), dir, { recursive: true, filter: (f) => !f.endsWith('.map') });
    const reachable = ancestors(dir).filter((d) => existsSync(join(d, 'node_modules')));
    if (reachable.length > 0) throw new Error(`${dir}: a node_modules is reachable from it (${reachable.join(', ')}): the copy would not show that the bundle stands alone`);
    process.once('exit', () => {
      rmSync(dir, { recursive: true, force: true });
    });
    standalone = join(dir, 'handler.js');
  }
  return standalone;
}

const STANDALONE_PREFIX = 'image-rewriter-dist-';

/**
 * Removes the copies of processes that are gone. The 'exit' listener below does not run under
 * jest (a test file's `process` is the test environment's object, whose listeners the real
 * process never calls), so every run used to leave its copy of dist/ behind in the temporary
 * directory. A copy is named after its process; one from before that (no pid) is removed once
 * it is an hour old.
 */
function sweepStandaloneCopies(): void {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(STANDALONE_PREFIX)) continue;
    const path = join(tmpdir(), name);
    const pid = /^(\d+)-/.exec(name.slice(STANDALONE_PREFIX.length))?.[1];
    const gone = pid === undefined ? Date.now() - statSync(path).mtimeMs > 3_600_000 : !isAlive(Number(pid));
    if (gone) rmSync(path, { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function ancestors(dir: string): string[] {
  const out = [dir];
  for (let d = dirname(dir); d !== out.at(-1); d = dirname(d)) out.push(d);
  return out;
}

/** `python` of the Python tools venv, with aws-sam-cli importable (hack/python/setup-venv.sh). */
export function venvPython(): string {
  const script = 'hack/python/setup-venv.sh';
  const what = 'the Python tools venv (aws-sam-cli, cfn-lint, moto)';
  const venv = fromEnv('IMAGE_REWRITER_VENV', what, script);
  return mustExist(join(venv, 'bin', 'python'), 'IMAGE_REWRITER_VENV', what, script, true);
}

/** The directory `sam build` wrote (its template.yaml and one folder per function): scripts/test-template.sh. */
export function samBuildDir(): string {
  const script = 'scripts/test-template.sh (npm run test:template)';
  const what = 'the --build-dir of a sam build of template.yaml';
  const dir = fromEnv('IMAGE_REWRITER_SAM_BUILD_DIR', what, script);
  mustExist(join(dir, 'template.yaml'), 'IMAGE_REWRITER_SAM_BUILD_DIR', what, script);
  return dir;
}

/** A helm binary built from the Go module proxy (hack/helm/build.sh 3|4). */
export function helmBinary(major: 3 | 4): string {
  const script = `hack/helm/build.sh ${major}`;
  const variable = `IMAGE_REWRITER_HELM${major}`;
  const what = `a Helm ${major} binary`;
  return mustExist(fromEnv(variable, what, script), variable, what, script, true);
}

/** The YAML oracle: kubectl's YAML reader, sigs.k8s.io/yaml, as a command (hack/yaml-oracle/build.sh). */
export function yamlOracleBinary(): string {
  const script = 'hack/yaml-oracle/build.sh';
  const variable = 'IMAGE_REWRITER_YAML_ORACLE';
  const what = 'the yaml-oracle binary';
  return mustExist(fromEnv(variable, what, script), variable, what, script, true);
}

/** The reference oracle: Go's distribution/reference v0.6.0 and CRI-O's fork as a command (hack/reference-oracle/build.sh). */
export function referenceOracleBinary(): string {
  const script = 'hack/reference-oracle/build.sh';
  const variable = 'IMAGE_REWRITER_REFERENCE_ORACLE';
  const what = 'the reference-oracle binary';
  return mustExist(fromEnv(variable, what, script), variable, what, script, true);
}

/** The observability oracle: Prometheus' expfmt and promlint, Go's encoding/json/v2, as a command (hack/observability-oracle/build.sh). */
export function observabilityOracleBinary(): string {
  const script = 'hack/observability-oracle/build.sh';
  const variable = 'IMAGE_REWRITER_OBSERVABILITY_ORACLE';
  const what = 'the observability-oracle binary';
  return mustExist(fromEnv(variable, what, script), variable, what, script, true);
}
