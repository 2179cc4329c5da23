/**
 * Watches `serve --token-file` for a change that serve will not apply by itself. serve reads its
 * token only at start (README, "Rotating the token"): a Secret updated for a rotation does nothing
 * until its Pods restart, and a webhook configuration moved to the new token meanwhile gets 401 at
 * every call. So a new content of the file is said once, as a warning: that a restart is needed, or
 * that serve would refuse it at its next start (a rotation's typo). Never the token itself.
 */
import type { Log } from '../observability/log.js';
import { readUpTo } from './bounded-read.js';
import { type FileWatch, watchFiles } from './file-watch.js';
import { MAX_TOKEN_FILE_BYTES } from './token.js';
import { parseTokens, type WebhookTokens } from './token-check.js';

/** How often the file is checked besides fs.watch events (as the rules file and the certificate). */
const TOKEN_POLL_MS = 10_000;

/** Follows `path`, the token file whose tokens `inUse` are, and logs each new content serve does not use. */
export function watchTokenFile(path: string, inUse: WebhookTokens, options: { readonly log: Log; readonly pollMs?: number }): FileWatch {
  const { log } = options;
  /** The content last said (or the one in use): each new content is said once. */
  let said: string | undefined;
  const check = async (): Promise<void> => {
    let text: string;
    let tooLarge: boolean;
    try {
      const bytes = await readUpTo(path, MAX_TOKEN_FILE_BYTES + 1, { regularFile: true });
      text = bytes.toString('utf8');
      tooLarge = bytes.length > MAX_TOKEN_FILE_BYTES;
    } catch {
      // Gone or unreadable for a moment (a Secret volume's update): the token in use is unaffected,
      // and a start would say why it cannot read it.
      return;
    }
    if (text === said) return;
    said = text;
    const refused = (reason: string): void => {
      log({ level: 'warn', msg: 'token file changed to a value serve would refuse at its next start', tokenFile: path, reason });
    };
    // What a start says of it (src/config/token.ts): not the problem of its first bytes as a token.
    if (tooLarge) {
      refused(`larger than ${MAX_TOKEN_FILE_BYTES} bytes, not a token file`);
      return;
    }
    const parsed = parseTokens(text);
    if ('tokens' in parsed && parsed.tokens.join(',') === inUse.join(',')) return;
    if ('problem' in parsed) {
      refused(`the webhook token ${parsed.problem}`);
      return;
    }
    log({ level: 'warn', msg: 'token file changed; serve reads its token only at start: restart it to use the new one', tokenFile: path, tokens: parsed.tokens.length, tokensInUse: inUse.length });
  };
  return watchFiles([path], check, { pollMs: options.pollMs ?? TOKEN_POLL_MS, log, what: 'token' });
}
