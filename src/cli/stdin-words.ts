/**
 * `explain -`: the image references on stdin, read as they arrive. Lines, and words within a line:
 * `kubectl get pods -o jsonpath='{..image}'` prints the images of a list separated by spaces, and
 * no image has a space or a tab (the API server refuses one with white space around it).
 *
 * Streamed, not read whole first: a cluster's worth of images (tens of MB) was held as one string,
 * then as an array of every image, and every answer line waited for the last image (gigabytes of
 * memory for tens of MB of images: docs/performance.md, "Figures behind the comments"). Written by
 * hand: a strict UTF-8 decoder in streaming mode and a split at the last separator (a line end, a
 * space or a tab) of what has arrived are all it takes.
 */
import { strictUtf8Stream } from './common.js';

/** Each non-empty word of `chunks` (UTF-8 bytes), in order; throws strictUtf8's refusal at the first byte that is not UTF-8. */
export async function* stdinWords(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<string, void, undefined> {
  const decoder = strictUtf8Stream();
  let rest = '';
  let first = true;
  const words = function* (text: string): Generator<string> {
    for (const line of text.split(/\r?\n/)) for (const word of line.split(/[ \t]+/)) if (word !== '') yield word;
  };
  const take = function* (text: string): Generator<string> {
    if (first && text !== '') {
      first = false;
      // A byte order mark (a list saved by a Windows editor) is not part of the first image.
      if (text.startsWith('\uFEFF')) text = text.slice(1);
    }
    // Cut at the last separator, not only at the last line end: `kubectl get pods -o
    // jsonpath='{..image}'` prints every image on one line, which was held whole until stdin ended.
    const last = Math.max(text.lastIndexOf('\n'), text.lastIndexOf(' '), text.lastIndexOf('\t'));
    if (last === -1) {
      rest += text;
      return;
    }
    const complete = rest + text.slice(0, last + 1);
    rest = text.slice(last + 1);
    yield* words(complete);
  };
  for await (const chunk of chunks) yield* take(decoder.decode(chunk, { stream: true }));
  yield* take(decoder.decode());
  yield* words(rest);
}
