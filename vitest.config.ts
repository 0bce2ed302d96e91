import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    pool: 'forks',
    // Each file gets its own database; two at a time fits two cores and keeps argon2 timings honest.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Real databases, real servers and a real browser: no test should talk to the outside world.
    env: { NODE_ENV: 'test', LOG_LEVEL: 'silent' },
  },
});
