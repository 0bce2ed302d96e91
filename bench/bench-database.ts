import pg from 'pg';

export interface BenchDatabase {
  /** The connection string of the bench's own database, for the server and the seeder. */
  readonly url: string;
  /** Drops the database, ending whatever connections are still open on it. */
  drop(): Promise<void>;
}

/**
 * A fresh database on the PostgreSQL server that `serverUrl` names, so a run never touches anyone's
 * data and every run starts from the same empty state.
 */
export async function createBenchDatabase(serverUrl: string): Promise<BenchDatabase> {
  const name = `mekong_bench_${process.pid}_${Date.now().toString(36)}`;
  const maintenance = new pg.Client({ connectionString: serverUrl });
  await maintenance.connect();
  try {
    await maintenance.query(`create database ${name}`);
  } finally {
    await maintenance.end();
  }
  const target = new URL(serverUrl);
  target.pathname = `/${name}`;
  return {
    url: target.href,
    async drop() {
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      try {
        // WITH (FORCE) (PostgreSQL 13+): a server that died mid-run may have left connections behind.
        await client.query(`drop database if exists ${name} with (force)`);
      } finally {
        await client.end();
      }
    },
  };
}
