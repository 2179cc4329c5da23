/**
 * serve's certificate reload (src/serve/certificates.ts) when a file it follows is not a regular
 * file. Regression (QA-22): a named pipe put in place of the certificate held the reload's check in
 * its blocking open for good; checks never overlap, so the certificate put back after it was never
 * loaded, and nothing was logged (the one served expired in the end). Now the pipe is refused at
 * once, logged once, and the next pair is loaded.
 */
import { expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { useReloadFolder } from '../helpers/certificate-reload.js';
import { LATE, within } from '../helpers/within.js';

const folder = useReloadFolder('certificates-not-regular-');

it('a certificate file replaced by a named pipe: the reload neither blocks nor reads it, says so once, and loads the pair put back', async () => {
  const { pki } = folder;
  const { files, put, watch, logs, applied } = await folder.start('tls', pki.server);
  const checked = async (): Promise<string> => ((await within(watch.check(), 2000)) === LATE ? 'still blocked after 2 s' : 'checked');
  try {
    await rm(files.certFile);
    execFileSync('mkfifo', [files.certFile]);
    expect(await checked()).toBe('checked');
    expect(await checked()).toBe('checked');
    expect(applied).toEqual([]);
    const next = await pki.issue('next');
    await rm(files.certFile);
    await put(next);
    expect(await checked()).toBe('checked');
    expect(applied).toHaveLength(1);
    const failures = logs.filter((l) => l.msg === 'certificate reload failed; keeping the current certificate');
    expect(failures).toEqual([expect.objectContaining({ reason: `cannot read certificate file ${files.certFile}: not a regular file (serve reads it again whenever it may have changed: give it a file, not a pipe or a device)` })]);
    expect(logs.filter((l) => l.msg === 'certificate reloaded')).toHaveLength(1);
  } finally {
    watch.close();
    // Before the fix a check stays blocked opening the FIFO: a writer releases it, so that the test process can end.
    try {
      closeSync(openSync(files.certFile, constants.O_WRONLY | constants.O_NONBLOCK));
    } catch {
      // no reader waiting: nothing to release
    }
  }
});
