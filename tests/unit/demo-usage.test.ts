/**
 * scripts/demo-usage.ts: the commands `npm run demo` prints for another terminal, pasted into a
 * shell, set what they say, whatever the paths hold (a space in TMPDIR, a quote, a `$`).
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from '@jest/globals';
import { usageLines } from '../../scripts/demo-usage.js';

describe('npm run demo: the lines for another terminal', () => {
  it.each([
    ['plain paths', '/tmp/image-rewriter-e2e-x'],
    ['a TMPDIR with a space and non-ASCII letters', '/tmp/qa 80/dépôt'],
    ["a quote, a $ and a backquote", "/tmp/it's $HOME `id`"],
  ])('export KUBECONFIG and PATH, and tail -f, name the whole path: %s', (_what, dir) => {
    const lines = usageLines({ kubeconfig: `${dir}/kubeconfig`, binDir: `${dir}/bin`, rules: `${dir}/rules.yaml`, webhookLog: `${dir}/serve.log`, logs: `${dir}/logs` });
    const commands = lines.filter((l) => l.startsWith('  export ')).map((l) => l.replace(/ {3}# .*$/, '')).join('\n');
    const tail = (lines.find((l) => l.startsWith('Webhook log: tail -f ')) ?? '').slice('Webhook log: tail -f '.length);
    const r = spawnSync('sh', ['-c', `${commands}\nprintf '%s\\n' "$KUBECONFIG" "\${PATH%%:*}"\nprintf '%s\\n' ${tail}`], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
    expect(r.stdout).toBe(`${dir}/kubeconfig\n${dir}/bin\n${dir}/serve.log\n`);
  });
});
