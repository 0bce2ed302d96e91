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

/** The tables whose rows make up a client as oidc-provider reads it (see oidc/adapter.ts). */
const clientTables = new Set(['clients', 'token_exchange_permissions']);

let writes = 0;
/** The statements in flight that write a client table, by Kysely's id for each. */
const pending = new WeakSet<QueryId>();

/**
 * How many statements this process has sent that write the client tables. The client cache
 * (oidc/client-cache.ts) forgets everything when the count moves. The database's own notification
 * (migration 20261201-010) reaches every node, but a moment after the commit; this count is what
 * makes a change made here visible here at once, so that an app disabled through the console is
 * refused by the very next request. The count moves before and after each statement: the second
 * also forgets what a concurrent request may have read in between.
 */
export const clientWriteCount = (): number => writes;

/** Installed on every database handle (db/database.ts), so that no writer has to remember it. */
export const clientWriteCounter: KyselyPlugin = {
  transformQuery({ node, queryId }: PluginTransformQueryArgs): RootOperationNode {
    if (writesClientTable(node)) {
      writes += 1;
      pending.add(queryId);
    }
    return node;
  },
  transformResult({ result, queryId }: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    if (pending.delete(queryId)) writes += 1;
    return Promise.resolve(result);
  },
};

function writesClientTable(node: RootOperationNode): boolean {
  if (InsertQueryNode.is(node)) return node.into !== undefined && isClientTable(node.into);
  if (UpdateQueryNode.is(node)) return node.table !== undefined && isClientTable(node.table);
  if (DeleteQueryNode.is(node)) return node.from.froms.some(isClientTable);
  return false;
}

function isClientTable(node: OperationNode): boolean {
  const table = AliasNode.is(node) ? node.node : node;
  return TableNode.is(table) && clientTables.has(table.table.identifier.name);
}
