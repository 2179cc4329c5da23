/** The product version, stamped by the esbuild build from package.json ('0.0.0-dev' in tests). */
declare const __IMAGE_REWRITER_VERSION__: string | undefined;

export const VERSION: string = typeof __IMAGE_REWRITER_VERSION__ === 'string' ? __IMAGE_REWRITER_VERSION__ : '0.0.0-dev';
