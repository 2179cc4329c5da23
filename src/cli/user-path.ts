/**
 * A path the user typed, for the repository's own npm scripts (`npm run invoke`, `npm run
 * deploy:regions`). npm runs a script from the package's root, so a path typed relative to the
 * directory npm was started in would be looked up in the wrong place; npm names that directory in
 * INIT_CWD. Only for the script named: any other npm script that runs the CLI (a user's own
 * package.json) keeps the script's directory, which is where its paths are meant from.
 */
import { isAbsolute, resolve } from 'node:path';

export function userPath(env: Readonly<Record<string, string | undefined>>, script: string, path: string): string {
  const start = env['npm_lifecycle_event'] === script ? env['INIT_CWD'] : undefined;
  return start === undefined || start === '' || isAbsolute(path) ? path : resolve(start, path);
}
