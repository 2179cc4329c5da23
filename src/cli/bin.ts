/** Entry point of dist/cli.js: wires the real process streams into `main`. */
import { enableRegexFallback } from '../config/regex-fallback.js';
import { main } from './main.js';

/** Strict: text that is not UTF-8 is an error, not quietly turned into U+FFFD (a BOM is kept: render writes back every byte). */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return utf8.decode(Buffer.concat(chunks));
}

// Before any rule is compiled (serve, explain, render, audit): see src/config/regex-fallback.ts.
enableRegexFallback();
process.exitCode = await main(process.argv.slice(2), {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  env: process.env,
  readStdin: () => readAll(process.stdin),
  ...(process.argv[1] === undefined ? {} : { processEntry: process.argv[1] }),
});
