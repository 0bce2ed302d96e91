import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { runExclusively } from '../../../src/db/queries/job-locks.ts';
import { openDatabase, type DatabaseHandle } from '../../../src/db/database.ts';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database.close();
});

describe('runExclusively', () => {
  it('runs the job and releases the lock, so the next round runs it again', async () => {
    expect(await runExclusively(database.db, 'cleanup', () => Promise.resolve('swept'))).toBe('swept');
    expect(await runExclusively(database.db, 'cleanup', () => Promise.resolve('swept again'))).toBe('swept again');
  });

  it('releases the lock when the job fails', async () => {
    await expect(runExclusively(database.db, 'cleanup', () => Promise.reject(new Error('disk full')))).rejects.toThrow('disk full');
    expect(await runExclusively(database.db, 'cleanup', () => Promise.resolve('ran'))).toBe('ran');
  });

  // Two nodes need two sessions on one server: PostgreSQL only (PGlite is a single session).
  it.runIf(inject('postgres'))('skips the job on a second node while the first one runs it', async () => {
    const otherNode: DatabaseHandle = await openDatabase(database.target, { poolSize: 1 });
    try {
      let release!: () => void;
      const holding = new Promise<void>((resolve) => (release = resolve));
      let started!: () => void;
      const firstStarted = new Promise<void>((resolve) => (started = resolve));
      const first = runExclusively(database.db, 'cleanup', async () => {
        started();
        await holding;
        return 'first';
      });
      await firstStarted;
      expect(await runExclusively(otherNode.db, 'cleanup', () => Promise.resolve('second'))).toBeUndefined();
      // Another job's lock is its own.
      expect(await runExclusively(otherNode.db, 'reports', () => Promise.resolve('reports'))).toBe('reports');
      release();
      expect(await first).toBe('first');
      expect(await runExclusively(otherNode.db, 'cleanup', () => Promise.resolve('second'))).toBe('second');
    } finally {
      await otherNode.close();
    }
  });
});
