// Types of scripts/third-party-notices.mjs (plain JavaScript: scripts/build.mjs imports it), for the tests.
import type { Metafile } from 'esbuild';

export declare const ALLOWED: readonly string[];
export declare const PORTED: readonly { readonly name: string; readonly version: string; readonly licence: string; readonly files: readonly string[]; readonly notice: string }[];
export declare function licenceAllowed(expression: unknown): boolean;
export declare function bundledPackages(bundles: Readonly<Record<string, Metafile>>, root: string): Map<string, Set<string>>;
export declare function thirdPartyNotices(bundles: Readonly<Record<string, Metafile>>, options: { readonly root: string; readonly project: { readonly name: string; readonly version: string; readonly license: string } }): string;
