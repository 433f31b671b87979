// Lint rules for the whole tree (`npm run lint`, run by CI): typescript-eslint's recommended set.
// Formatting is Prettier's job (`npm run format:check`); the recommended sets hold no stylistic rules.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.cache/', '.lab/', 'coverage/', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      'no-empty': ['error', { allowEmptyCatch: true }],
      eqeqeq: ['error', 'smart'],
      // Validation rejects control characters in values bound for zone files, dhcpd.conf and answer
      // files, and tests strip terminal colours: matching them is the point, not a mistake.
      'no-control-regex': 'off',
    },
  },
  {
    // Tests read raw JSON from emulators and poke at YAML documents: `any` there is deliberate.
    files: ['**/*.test.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
