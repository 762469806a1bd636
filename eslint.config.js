// Lint rules for every package: ESLint's and typescript-eslint's recommended sets, type-aware.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '**/.turbo/**', 'tools/**', '**/vitest.config.ts', 'vitest.base.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'error',
    },
  },
  {
    files: ['packages/api/dashboard/**/*.js'],
    languageOptions: {
      globals: Object.fromEntries(
        [
          'document',
          'window',
          'location',
          'fetch',
          'FormData',
          'URLSearchParams',
          'Node',
          'setTimeout',
          'clearTimeout',
          'sessionStorage',
        ].map((name) => [name, 'readonly']),
      ),
    },
  },
  {
    files: ['**/test/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  {
    files: ['packages/shared/src/db/migrations/**'],
    // Migrations run against Kysely<any> on purpose: they are frozen and must not follow today's types.
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
