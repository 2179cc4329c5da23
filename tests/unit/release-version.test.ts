/**
 * One version in everything a release ships (docs/design.md, "What we ship"): package.json's, which
 * the CLI prints (`--version`), is also the lockfile's, the Serverless Application Repository's
 * SemanticVersion (template.yaml), the chart's appVersion (the image tag it deploys when
 * image.tag is empty), the image's OCI version label, and the tag deploy/serve.yaml and README's
 * build commands use. A release that bumps one and not the others would publish a SAR version
 * that is not the code's, or a chart that deploys the previous image.
 */
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/fixtures.js';

const read = (...path: string[]): string => readFileSync(join(REPO_ROOT, ...path), 'utf8');
const version = (JSON.parse(read('package.json')) as { version: string }).version;

describe('the release version', () => {
  it('is a semantic version', () => {
    expect(version).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it.each([
    ['package-lock.json', () => [(JSON.parse(read('package-lock.json')) as { version: string }).version, (JSON.parse(read('package-lock.json')) as { packages: Record<string, { version?: string }> }).packages['']?.version]],
    ["template.yaml's SemanticVersion (the Serverless Application Repository)", () => [/^ {4}SemanticVersion: (\S+)$/m.exec(read('template.yaml'))?.[1]]],
    ["the chart's appVersion (the image tag it deploys by default)", () => [/^appVersion: "?([^"\s]+)"?$/m.exec(read('deploy', 'chart', 'image-rewriter', 'Chart.yaml'))?.[1]]],
    ["the image's OCI version label (Dockerfile)", () => [/org\.opencontainers\.image\.version=(\S+)/.exec(read('Dockerfile'))?.[1]]],
    ['the image tags of deploy/serve.yaml, the Dockerfile and README', () => [...`${read('deploy', 'serve.yaml')}\n${read('Dockerfile')}\n${read('README.md')}`.matchAll(/\/image-rewriter:(\d[^\s"']*)/g)].map((m) => m[1])],
  ])('is %s', (_, found) => {
    const versions = found();
    expect(versions.length).toBeGreaterThan(0);
    expect(versions).toEqual(versions.map(() => version));
  });
});
