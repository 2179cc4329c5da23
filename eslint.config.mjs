// @ts-check
import eslint from '@eslint/js';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** Globals through which a module does I/O, waits, or reads the environment (tests/unit/purity.test.ts has the same list). */
const IO_GLOBALS = ['process', 'Buffer', 'fetch', 'console', 'setTimeout', 'setInterval', 'setImmediate', 'queueMicrotask', 'require', 'globalThis', 'WebSocket', 'XMLHttpRequest'];

export default defineConfig(
  { ignores: ['dist/**', 'coverage/**', 'node_modules/**', 'hack/**/bin/**', '.aws-sam/**', 'src/config/generated/*.js'] },
  eslint.configs.recommended,
  tseslint.configs.strictTypeChecked,
  tseslint.configs.stylisticTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: {
        projectService: { allowDefaultProject: ['*.mjs', '*.js', 'scripts/*.mjs'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      'no-restricted-syntax': [
        'error',
        { selector: 'CallExpression[callee.object.name=/^(it|describe|test)$/][callee.property.name=/^(only|skip)$/]', message: 'No focused or skipped tests.' },
      ],
    },
  },
  {
    // The pure core: no I/O, no AWS, no package, no environment (docs/design.md, "one pure core, thin
    // adapters"); tests/unit/purity.test.ts checks the same, import() and globalThis included.
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['node:*', 'fs', 'http', 'https', 'net', 'tls', 'child_process'], message: 'src/core is pure: no Node I/O.' },
        { group: ['@aws-sdk/*', '@aws-lambda-powertools/*'], message: 'src/core is pure: no AWS.' },
        { regex: '^(?!\\./)', message: 'src/core imports only its own modules: no package, no other folder.' },
      ] }],
      'no-restricted-globals': ['error', ...IO_GLOBALS.map((name) => ({ name, message: 'src/core is pure: pass values in.' }))],
    },
  },
  {
    // render's text edits do no I/O (docs/design.md, the folder table); tests/unit/purity.test.ts too.
    files: ['src/manifests/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['node:*', 'fs', 'http', 'https', 'net', 'tls', 'child_process'], message: 'src/manifests does no I/O.' }] }],
      'no-restricted-globals': ['error', ...IO_GLOBALS.map((name) => ({ name, message: 'src/manifests does no I/O: pass values in.' }))],
    },
  },
  { files: ['**/*.mjs', '**/*.js'], extends: [tseslint.configs.disableTypeChecked] },
);
