import { sql, type Expression, type SqlBool } from 'kysely';

/**
 * The pieces of SQL that delegated administration and search share, written once: which rows lie
 * in a set of subtrees, and how user text goes into LIKE.
 */

/**
 * A condition: the materialized path `path` lies in one of `subtrees` (each a path ending in "/").
 * An empty list matches nothing, so an admin with no scope sees nothing, never everything. Paths
 * hold only hex digits, "-" and "/", so they need no LIKE escaping.
 */
export function pathInSubtrees(path: Expression<string | null>, subtrees: readonly string[]): Expression<SqlBool> {
  if (subtrees.length === 0) return sql<SqlBool>`false`;
  return sql<SqlBool>`(${sql.join(subtrees.map((subtree) => sql`${path} like ${`${subtree}%`}`), sql` or `)})`;
}

/** Text a person typed, made literal inside a LIKE pattern. */
export function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, '\\$&');
}

/** The search key of `q` (see the migration's mekong_search_key), escaped for use inside LIKE. */
export function likeEscapedSearchKey(q: string) {
  return sql<string>`replace(replace(replace(mekong_search_key(${q}), '\\', '\\\\'), '%', '\\%'), '_', '\\_')`;
}
