import { RawNode, type RootOperationNode } from 'kysely';

/**
 * What a statement does, for tests that count round trips: its verb ("select", "insert", …) and
 * which of `tables` it reads or writes. A query built with Kysely names its tables as identifiers;
 * a SQL template (the OIDC adapter's) in its text.
 */
export function describeStatement(node: RootOperationNode, tables: readonly string[]): string {
  const text = JSON.stringify(node);
  const sqlText = RawNode.is(node) ? templateText(node) : '';
  const verb = RawNode.is(node) ? (/^\s*(\w+)/u.exec(sqlText)?.[1]?.toLowerCase() ?? 'raw') : node.kind.replace('QueryNode', '').toLowerCase();
  const touched = tables.filter((table) =>
    text.includes(`"name":"${table}"`) || new RegExp(`\\b(from|join|into|update)\\s+${table}\\b`, 'u').test(sqlText));
  return [verb, ...touched].join(' ');
}

/** A template's text, with that of the templates inside it (a join written once and reused). */
function templateText(node: unknown): string {
  if (typeof node !== 'object' || node === null) return '';
  if (RawNode.is(node as RootOperationNode)) {
    const raw = node as RawNode;
    return [...raw.sqlFragments, ...raw.parameters.map(templateText)].join(' ');
  }
  return Object.values(node).map(templateText).join(' ');
}
