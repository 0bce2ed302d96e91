import {
  AliasNode,
  DeleteQueryNode,
  InsertQueryNode,
  TableNode,
  UpdateQueryNode,
  type KyselyPlugin,
  type OperationNode,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryId,
  type QueryResult,
  type RootOperationNode,
  type UnknownRow,
} from 'kysely';

/**
 * The tables whose rows some node keeps in memory: a client as oidc-provider reads it (see
 * oidc/adapter.ts), and the subjects apps know people by after a directory merge.
 */
export type CachedTable = 'clients' | 'token_exchange_permissions' | 'subject_aliases';
const cachedTables = new Set<string>(['clients', 'token_exchange_permissions', 'subject_aliases'] satisfies CachedTable[]);

const writes = new Map<string, number>();
/** The statements in flight that write a cached table, by Kysely's id for each, with the table. */
const pending = new WeakMap<QueryId, string>();

/**
 * How many statements this process has sent that write these tables. A cache of them (the client
 * cache, oidc/client-cache.ts) forgets everything when the count moves. The database's own
 * notification (migration 20261201-010) reaches every node, but a moment after the commit; this
 * count is what makes a change made here visible here at once, so that an app disabled through the
 * console is refused by the very next request. The count moves before and after each statement: the
 * second also forgets what a concurrent request may have read in between.
 */
export function tableWriteCount(tables: readonly CachedTable[]): number {
  let count = 0;
  for (const table of tables) count += writes.get(table) ?? 0;
  return count;
}

const countWrite = (table: string) => writes.set(table, (writes.get(table) ?? 0) + 1);

/** Installed on every database handle (db/database.ts), so that no writer has to remember it. */
export const tableWriteCounter: KyselyPlugin = {
  transformQuery({ node, queryId }: PluginTransformQueryArgs): RootOperationNode {
    const table = writtenCachedTable(node);
    if (table !== undefined) {
      countWrite(table);
      pending.set(queryId, table);
    }
    return node;
  },
  transformResult({ result, queryId }: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    const table = pending.get(queryId);
    if (table !== undefined) {
      pending.delete(queryId);
      countWrite(table);
    }
    return Promise.resolve(result);
  },
};

function writtenCachedTable(node: RootOperationNode): string | undefined {
  if (InsertQueryNode.is(node)) return node.into && cachedTableOf(node.into);
  if (UpdateQueryNode.is(node)) return node.table && cachedTableOf(node.table);
  if (DeleteQueryNode.is(node)) return node.from.froms.map(cachedTableOf).find((table) => table !== undefined);
  return undefined;
}

function cachedTableOf(node: OperationNode): string | undefined {
  const table = AliasNode.is(node) ? node.node : node;
  return TableNode.is(table) && cachedTables.has(table.table.identifier.name) ? table.table.identifier.name : undefined;
}
