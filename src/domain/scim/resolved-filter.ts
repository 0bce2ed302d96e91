import { ScimError } from '../../errors.ts';
import { describePath, parseAttributePath, type AttributePath, type CompareOperator, type Filter } from './filter.ts';
import { canonicalName, findAttribute, resourceTypes, type ResourceTypeDefinition } from './schemas.ts';

/**
 * A parsed filter checked against a resource type: every path resolved to one attribute Mekong ID
 * can filter on, every operator and value checked against that attribute's type. What comes out
 * can be compiled to SQL without further questions (db/queries/scim.ts); what does not fit is the
 * client's mistake (400 invalidFilter), said with the attribute's name.
 */

/** The attributes a filter may name, per resource type; each maps to a column or a subquery. */
export const userFilterAttributes = [
  'id', 'userName', 'name.formatted', 'name.familyName', 'name.givenName', 'displayName', 'title', 'active',
  'emails.value', 'emails.type', 'phoneNumbers.value', 'phoneNumbers.type', 'groups.value', 'groups.display',
  'meta.created', 'meta.lastModified', 'employeeNumber', 'organization', 'department', 'orgUnit.value', 'orgUnit.code',
] as const;
export type UserFilterAttribute = (typeof userFilterAttributes)[number];

export const groupFilterAttributes = [
  'id', 'displayName', 'members.value', 'members.display', 'meta.created', 'meta.lastModified', 'orgUnit.value', 'orgUnit.code',
] as const;
export type GroupFilterAttribute = (typeof groupFilterAttributes)[number];

/** Multi-valued attributes a value filter ("emails[type eq \"work\"]") may narrow. */
export const multiValuedFilterAttributes = { User: ['emails', 'phoneNumbers', 'groups'], Group: ['members'] } as const;

export type ValueType = 'string' | 'boolean' | 'dateTime';

export type ResolvedFilter<A extends string> =
  | { readonly kind: 'compare'; readonly attribute: A; readonly type: ValueType; readonly caseExact: boolean; readonly operator: CompareOperator; readonly value: string | boolean | Date | null }
  | { readonly kind: 'present'; readonly attribute: A; readonly type: ValueType }
  | { readonly kind: 'and' | 'or'; readonly left: ResolvedFilter<A>; readonly right: ResolvedFilter<A> }
  | { readonly kind: 'not'; readonly filter: ResolvedFilter<A> }
  | { readonly kind: 'any'; readonly attribute: string; readonly filter: ResolvedFilter<A> };

const invalidFilter = (message: string) => new ScimError('invalidFilter', message);

/** xsd:dateTime as RFC 7643 §2.3.5 has it, with a zone; "2026-11-27T08:00:00Z", "2026-11-27T15:00:00+07:00". */
const dateTimePattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

export function resolveUserFilter(filter: Filter): ResolvedFilter<UserFilterAttribute> {
  return resolve(filter, resourceTypes.User, userFilterAttributes, multiValuedFilterAttributes.User, null);
}

export function resolveGroupFilter(filter: Filter): ResolvedFilter<GroupFilterAttribute> {
  return resolve(filter, resourceTypes.Group, groupFilterAttributes, multiValuedFilterAttributes.Group, null);
}

function resolve<A extends string>(
  filter: Filter,
  type: ResourceTypeDefinition,
  supported: readonly A[],
  multiValued: readonly string[],
  within: string | null,
): ResolvedFilter<A> {
  switch (filter.kind) {
    case 'and':
    case 'or':
      return { kind: filter.kind, left: resolve(filter.left, type, supported, multiValued, within), right: resolve(filter.right, type, supported, multiValued, within) };
    case 'not':
      return { kind: 'not', filter: resolve(filter.filter, type, supported, multiValued, within) };
    case 'valuePath': {
      if (within !== null) throw invalidFilter(`value filters do not nest: ${describePath(filter.path)}[…] inside ${within}[…]`);
      const found = findAttribute(type, { ...filter.path, subAttribute: null });
      const name = found ? canonicalName(found) : null;
      if (name === null || !multiValued.includes(name)) {
        throw invalidFilter(`${describePath(filter.path)}[…]: a value filter narrows one of ${multiValued.join(', ')}`);
      }
      return { kind: 'any', attribute: name, filter: resolve(filter.filter, type, supported, multiValued, name) };
    }
    case 'present':
    case 'compare': {
      const { attribute, valueType, caseExact } = resolveAttribute(filter.path, type, supported, within);
      if (filter.kind === 'present') return { kind: 'present', attribute, type: valueType };
      return { kind: 'compare', attribute, type: valueType, caseExact, operator: filter.operator, value: checkedValue(filter.operator, filter.value, valueType, attribute) };
    }
  }
}

function resolveAttribute<A extends string>(
  path: AttributePath,
  type: ResourceTypeDefinition,
  supported: readonly A[],
  within: string | null,
): { attribute: A; valueType: ValueType; caseExact: boolean } {
  // Inside "emails[…]" the paths are the sub-attributes of emails.
  const lookup = within === null ? path : { schema: null, attribute: within, subAttribute: path.attribute };
  if (within !== null && (path.schema !== null || path.subAttribute !== null)) {
    throw invalidFilter(`inside ${within}[…] name a sub-attribute of ${within}, not ${describePath(path)}`);
  }
  let found = findAttribute(type, lookup);
  // A complex attribute named alone means its value ("emails co \"@\"" is "emails.value co \"@\"", RFC 7644 §3.4.2.2).
  if (found && found.sub === null && found.definition.type === 'complex') found = findAttribute(type, { ...lookup, subAttribute: 'value' });
  if (!found) throw invalidFilter(`${type.name} has no attribute ${describePath(path)}`);
  const name = canonicalName(found);
  if (!(supported as readonly string[]).includes(name)) {
    throw invalidFilter(`${type.name} filters cannot use ${name}; they can use ${supported.join(', ')}`);
  }
  const definition = found.sub ?? found.definition;
  const valueType: ValueType = definition.type === 'boolean' ? 'boolean' : definition.type === 'dateTime' ? 'dateTime' : 'string';
  return { attribute: name as A, valueType, caseExact: definition.caseExact };
}

function checkedValue(operator: CompareOperator, value: string | number | boolean | null, type: ValueType, attribute: string): string | boolean | Date | null {
  if (value === null) {
    if (operator === 'eq' || operator === 'ne') return null;
    throw invalidFilter(`${attribute} ${operator} null: only eq and ne compare with null`);
  }
  if (type === 'boolean') {
    if (typeof value !== 'boolean') throw invalidFilter(`${attribute} is true or false, not ${JSON.stringify(value)}`);
    if (operator !== 'eq' && operator !== 'ne') throw invalidFilter(`${attribute} is a boolean: compare it with eq or ne, not ${operator}`);
    return value;
  }
  if (typeof value !== 'string') throw invalidFilter(`${attribute} is compared with a "string" value, not ${JSON.stringify(value)}`);
  if (type === 'dateTime') {
    if (operator === 'co' || operator === 'sw' || operator === 'ew') throw invalidFilter(`${attribute} is a date and time: compare it with eq, ne, gt, ge, lt or le`);
    const instant = dateTimePattern.test(value) ? new Date(value) : null;
    if (!instant || Number.isNaN(instant.getTime())) throw invalidFilter(`${attribute} is compared with a date and time such as "2026-11-27T08:00:00Z", not ${JSON.stringify(value)}`);
    return instant;
  }
  return value;
}

/**
 * The attribute a sortBy names (RFC 7644 §3.4.2.3): any single-valued attribute a filter can use.
 * A multi-valued one would need its primary value picked; Mekong ID keeps one email and one phone,
 * but sorting by them is not worth a special case, so it is refused by name.
 */
export function resolveSortAttribute(text: string, resource: 'User' | 'Group'): string {
  const filter = resolve(
    { kind: 'present', path: parseAttributePath(text, 'invalidFilter') }, resourceTypes[resource],
    (resource === 'User' ? userFilterAttributes : groupFilterAttributes) as readonly string[], multiValuedFilterAttributes[resource], null,
  );
  const attribute = (filter as { attribute: string }).attribute;
  if ((multiValuedFilterAttributes[resource] as readonly string[]).includes(attribute.split('.')[0]!)) {
    throw new ScimError('invalidValue', `sortBy names a single-valued attribute, not ${attribute}`);
  }
  return attribute;
}
