// ESLint for the TypeScript of compiler/, config/ and test/ and the launcher (npm test runs it): the
// recommended rules of ESLint and typescript-eslint, and lines a reviewer can read without scrolling.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    // installed packages (and the CLI bundle cache in node_modules/.cache), the compiled output,
    // downloaded tools, build and preview directories
    ignores: ['**/node_modules/**', 'base/**', 'overlays/**', 'clusters/**', '.tools/**', '.compile-*/**', '.build-*/**', 'preview/**'],
  },
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.mjs', '**/*.js'],
    languageOptions: { ecmaVersion: 2023, sourceType: 'module', globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly' } },
    rules: {
      'max-len': ['error', {
        code: 140,
        ignoreUrls: true,
        ignoreRegExpLiterals: true,
        ignoreStrings: true,
        ignoreTemplateLiterals: true,
        ignorePattern: '^\\s*(import |export .* from )',
      }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
);
