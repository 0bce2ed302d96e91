import { createHash } from 'node:crypto';

import { sql } from 'kysely';
import pg from 'pg';

/**
 * Ends a statement that PostgreSQL should parse and plan once per connection instead of on every
 * execution: the OIDC adapter's, which every token request and sign-in makes, and a sign-in's own
 * (throttles, person, factors, unit policy, last login, audit event). Planning the token lookup
 * (three tables joined) cost PostgreSQL several times what executing it did (pgbench on its text:
 * 10,454 statements/s as a one-off, 59,708/s prepared). With most of a sign-in's own prepared too
 * (27 of its 30 statements, up from 17), PostgreSQL spent about 1 ms less CPU per sign-in; all 30 now.
 *
 * Only statements whose shape never varies carry it, so each connection holds a fixed, small set;
 * and only those whose best plan does not depend on the values (primary-key and index lookups), since
 * PostgreSQL may settle on one plan for all values of a prepared statement. Never one that selects or
 * returns `*`: when a rolling upgrade's migration adds a column, PostgreSQL refuses to run a prepared
 * statement whose result columns changed under it, on every connection of the nodes still running.
 * A trailing comment, so that PGlite, which runs the same text unprepared, ignores it.
 */
const marker = ' /* prepared */';
export const preparedStatement = sql.raw(marker);

const names = new Map<string, string>();

/** A statement's name on every connection: derived from its text, so that one text is one name. */
function statementName(text: string): string {
  let name = names.get(text);
  if (name === undefined) {
    name = `mekong_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
    names.set(text, name);
  }
  return name;
}

/**
 * pg's client, naming the statements marked with `preparedStatement`: pg then sends the text to
 * PostgreSQL only the first time on each connection, and binds the values to the prepared statement
 * after that. Everything else goes through unchanged.
 */
export class PreparingClient extends pg.Client {
  // Kysely's driver calls query(text, values) and awaits the promise it returns.
  override query(...args: unknown[]): never {
    const [text, values] = args;
    if (typeof text === 'string' && Array.isArray(values) && args.length === 2 && text.endsWith(marker)) {
      return super.query({ name: statementName(text), text, values }) as never;
    }
    return (super.query as (...args: unknown[]) => never).apply(this, args);
  }
}
