import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      exclude: ['src/**/*.test.ts', 'src/**/testutil/**', 'src/**/testdata/**', 'src/**/*.d.ts', 'src/main.ts', 'src/symbolize-main.ts', 'src/serve-main.ts', 'src/snapshot-main.ts', 'src/cli/process.ts', 'src/build-bundle.ts', 'src/gen/**'],
      thresholds: { lines: 85, statements: 85, functions: 85, branches: 80 },
    },
  },
});
