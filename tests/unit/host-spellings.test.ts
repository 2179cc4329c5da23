/**
 * Spellings of one registry are one registry for rules and excludes: host names in any case, the
 * default HTTPS port written out, a port written with leading zeros (Go reads `:0443` as 443, so
 * the kubelet and containerd pull `gcr.io:0443/x` from gcr.io), Docker Hub's other host names.
 * Regression test: `GCR.IO/x`, `gcr.io:443/x`, `gcr.io:0443/x`, `registry:05000/x` and
 * `registry-1.docker.io/library/nginx` slipped past rules written for `gcr.io`, `registry:5000`
 * and `docker.io`; so did `registry.hub.docker.com/library/nginx` (Docker Hub's registry under
 * another name, found in a security review: a tenant pulled from Docker Hub past a mirror rule).
 */
import { describe, expect, it } from '@jest/globals';
import { matchedHost } from '../../src/core/matched-name.js';
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
  - name: port
    match: registry.example.com:5000
    replace: mirror.example.com/reg
exclude:
  - docker.io/library/busybox
  - registry.example.com:5000/private
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
    ['registry.hub.docker.com/library/nginx:1.27', 'mirror.example.com/hub/nginx:1.27'],
    ['Registry.Hub.Docker.com:443/library/nginx', 'mirror.example.com/hub/nginx'],
    ['registry.hub.docker.com/nginx', 'mirror.example.com/hub/nginx'],
    ['Docker.IO/library/nginx', 'mirror.example.com/hub/nginx'],
    ['docker.io:443/library/nginx', 'mirror.example.com/hub/nginx'],
    ['nginx', 'mirror.example.com/hub/nginx'],
    ['QUAY.io/org/app:2', 'mirror.example.com/quay/org/app:2'],
    ['gcr.io:0443/app:1', 'asia.gcr.io/app:1'],
    ['GCR.IO:000443/app', 'asia.gcr.io/app'],
    ['docker.io:0443/library/nginx', 'mirror.example.com/hub/nginx'],
    ['registry-1.docker.io:00443/nginx', 'mirror.example.com/hub/nginx'],
    ['Quay.io:0443/org/app:2', 'mirror.example.com/quay/org/app:2'],
    ['registry.example.com:5000/team/app:1', 'mirror.example.com/reg/team/app:1'],
    ['registry.example.com:05000/team/app:1', 'mirror.example.com/reg/team/app:1'],
    ['Registry.Example.com:0005000/team/app', 'mirror.example.com/reg/team/app'],
  ])('%s -> %s', (image, expected) => {
    expect(rewriter.rewrite(image)).toMatchObject({ kind: 'rewritten', rewritten: expected });
  });

  it.each(['registry-1.docker.io/library/busybox:1.36', 'registry.hub.docker.com/library/busybox', 'BUSYBOX', 'Docker.io:443/busybox', 'Docker.io:0443/busybox', 'registry.example.com:005000/private/app'])('the exclude covers %s', (image) => {
    const r = rewriter.rewrite(image);
    expect(r.kind === 'unchanged' ? r.reason : r.kind).toBe(image === 'BUSYBOX' ? 'invalid' : 'excluded');
  });

  it.each([
    'gcr.io:5000/app',
    'gcr.io.evil.example/app',
    'eu.gcr.io/app',
    'registry-2.docker.io/library/nginx',
    'hub.docker.com/library/nginx',
    'registry.hub.docker.com.evil.example/library/nginx',
    'docker.io.evil.example/library/nginx',
    'gcr.io:04430/app',
    'registry.example.com:50000/app',
    'registry.example.com:05001/app',
    // A port of zeros only is not read as another port: left as written.
    'gcr.io:0/app',
    'gcr.io:000/app',
  ])(
    'other registries stay other registries: %s',
    (image) => {
      expect(rewriter.rewrite(image)).toMatchObject({ kind: 'unchanged', reason: 'no-match' });
    },
  );

  it.each([
    ['gcr.io', 'gcr.io'],
    ['GCR.io:443', 'gcr.io'],
    ['gcr.io:0443', 'gcr.io'],
    ['gcr.io:00443', 'gcr.io'],
    ['registry:05000', 'registry:5000'],
    ['registry:5000', 'registry:5000'],
    ['registry:050', 'registry:50'],
    ['[::1]:0443', '[::1]'],
    ['[FC00::1]:05000', '[fc00::1]:5000'],
    ['[::0]', '[::0]'],
    ['index.docker.io:0443', 'docker.io'],
    ['gcr.io:04430', 'gcr.io:4430'],
    ['gcr.io:0', 'gcr.io:0'],
    ['gcr.io:000', 'gcr.io:000'],
  ])('the host %s is compared as %s', (host, want) => {
    expect(matchedHost(host)).toBe(want);
  });
});
