/**
 * Spellings of one registry are one registry for rules and excludes: host names in any case, the
 * default HTTPS port written out, Docker Hub's other host names. Regression test: `GCR.IO/x`,
 * `gcr.io:443/x` and `registry-1.docker.io/library/nginx` slipped past rules written for `gcr.io`
 * and `docker.io`.
 */
import { describe, expect, it } from '@jest/globals';
import { rewriterFrom } from '../helpers/rules.js';

const rewriter = rewriterFrom(`rules:
  - name: gcr
    match: gcr.io
    replace: asia.gcr.io
  - name: hub
    match: docker.io/library
    replace: mirror.example.com/hub
  - name: quay
    regex: 'quay\\.io/(.*)'
    replace: mirror.example.com/quay/$1
exclude:
  - docker.io/library/busybox
`);

describe('registry host spellings', () => {
  it.each([
    ['GCR.IO/app:1', 'asia.gcr.io/app:1'],
    ['Gcr.Io/team/app@sha256:' + 'a'.repeat(64), `asia.gcr.io/team/app@sha256:${'a'.repeat(64)}`],
    ['gcr.io:443/app:1', 'asia.gcr.io/app:1'],
    ['GCR.IO:443/app', 'asia.gcr.io/app'],
    ['registry-1.docker.io/library/nginx:1.27', 'mirror.example.com/hub/nginx:1.27'],
    ['registry-1.docker.io/nginx', 'mirror.example.com/hub/nginx'],
    ['index.docker.io/library/nginx', 'mirror.example.com/hub/nginx'],
    ['Docker.IO/library/nginx', 'mirror.example.com/hub/nginx'],
    ['docker.io:443/library/nginx', 'mirror.example.com/hub/nginx'],
    ['nginx', 'mirror.example.com/hub/nginx'],
    ['QUAY.io/org/app:2', 'mirror.example.com/quay/org/app:2'],
  ])('%s -> %s', (image, expected) => {
    expect(rewriter.rewrite(image)).toMatchObject({ kind: 'rewritten', rewritten: expected });
  });

  it.each(['registry-1.docker.io/library/busybox:1.36', 'BUSYBOX', 'Docker.io:443/busybox'])('the exclude covers %s', (image) => {
    const r = rewriter.rewrite(image);
    expect(r.kind === 'unchanged' ? r.reason : r.kind).toBe(image === 'BUSYBOX' ? 'invalid' : 'excluded');
  });

  it.each(['gcr.io:5000/app', 'gcr.io.evil.example/app', 'eu.gcr.io/app', 'registry-2.docker.io/library/nginx', 'docker.io.evil.example/library/nginx'])(
    'other registries stay other registries: %s',
    (image) => {
      expect(rewriter.rewrite(image)).toMatchObject({ kind: 'unchanged', reason: 'no-match' });
    },
  );
});
