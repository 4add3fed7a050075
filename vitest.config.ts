import { defineConfig } from 'vitest/config';

// One run over every package: unit tests next to each package, end-to-end tests in test/.
// Real services (PostgreSQL, S3 servers, sshd) start per test file, so files run two at a time on 2 cores.
export default defineConfig({
  test: {
    include: [
      'packages/*/test/**/*.test.ts',
      'apps/*/test/**/*.test.ts',
      'examples/*/test/**/*.test.ts',
      'test/**/*.test.ts',
    ],
    exclude: ['**/node_modules/**', '**/dist/**'],
    // Every temp folder of the run lives in one private folder removed at the end (no litter in /tmp).
    globalSetup: ['test/helpers/private-tmpdir.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
