import { ScimError } from '../../errors.ts';
import { describePath, parsePatchPath, type Filter, type FilterValue } from './filter.ts';
import { findAttribute, type AttributeDefinition, type ResourceTypeDefinition, type SchemaDefinition } from './schemas.ts';

/**
 * SCIM resources as JSON, and PATCH (RFC 7644 §3.5.2) applied to them in memory. A PATCH is run on
 * the resource as the client reads it; the result is then written the way a PUT is (see users.ts
 * and groups.ts), so both go through one mapping onto the domain and its checks. Attribute names
 * are matched without regard to case and written back in their canonical case.
 */

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface PatchOperation {
  readonly op: 'add' | 'replace' | 'remove';
  readonly path: string | null;
  readonly value: Json | undefined;
}

const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);
const same = (left: string, right: string) => left.toLowerCase() === right.toLowerCase();
const clone = <T extends Json>(value: T): T => structuredClone(value);

/** Reads a PatchOp request body (urn:ietf:params:scim:api:messages:2.0:PatchOp) into its operations. */
export function readPatchOperations(body: unknown): PatchOperation[] {
  if (!isObject(body) || !Array.isArray(body['Operations'] ?? body['operations'])) {
    throw new ScimError('invalidSyntax', 'a PATCH body is {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [...]}');
  }
  const operations = (body['Operations'] ?? body['operations']) as Json[];
  if (operations.length === 0) throw new ScimError('invalidSyntax', 'Operations is empty: send at least one operation');
  if (operations.length > 1000) throw new ScimError('tooMany', 'at most 1000 operations in one PATCH');
  return operations.map((operation, index) => {
    if (!isObject(operation)) throw new ScimError('invalidSyntax', `Operations[${index}] is not an object`);
    const op = typeof operation['op'] === 'string' ? operation['op'].toLowerCase() : null;
    if (op !== 'add' && op !== 'replace' && op !== 'remove') throw new ScimError('invalidSyntax', `Operations[${index}].op is "add", "replace" or "remove"`);
    const path = operation['path'];
    if (path !== undefined && typeof path !== 'string') throw new ScimError('invalidPath', `Operations[${index}].path is a string`);
    if (op !== 'remove' && operation['value'] === undefined) throw new ScimError('invalidValue', `Operations[${index}] (${op}) needs a value`);
    return { op, path: path ?? null, value: operation['value'] };
  });
}

/**
 * A resource's attributes in their canonical case ("username" becomes "userName", an extension's
 * URN its canonical form); attributes the schemas do not name are dropped, as RFC 7643 §3 lets a
 * service provider ignore them. `password` is refused: people set their own, through activation.
 */
export function canonicalize(body: unknown, type: ResourceTypeDefinition): JsonObject {
  if (!isObject(body)) throw new ScimError('invalidSyntax', `a ${type.name} is a JSON object`);
  const resource: JsonObject = {};
  for (const [key, value] of Object.entries(body)) {
    if (same(key, 'password')) throw new ScimError('invalidValue', 'Mekong ID takes no passwords: a new person sets their own through the activation link');
    if (same(key, 'schemas')) continue;
    const extension = type.extensions.find((schema) => same(schema.id, key));
    if (extension) {
      if (!isObject(value)) throw new ScimError('invalidSyntax', `${extension.id} holds an object of its attributes`);
      resource[extension.id] = canonicalAttributes(value, extension.attributes);
      continue;
    }
    const definition = type.schema.attributes.find((candidate) => same(candidate.name, key));
    if (definition) resource[definition.name] = canonicalValue(value, definition);
  }
  return resource;
}

function canonicalAttributes(value: JsonObject, attributes: readonly AttributeDefinition[]): JsonObject {
  const result: JsonObject = {};
  for (const [key, item] of Object.entries(value)) {
    const definition = attributes.find((candidate) => same(candidate.name, key));
    if (definition) result[definition.name] = canonicalValue(item, definition);
  }
  return result;
}

function canonicalValue(value: Json, definition: AttributeDefinition): Json {
  if (value === null) return null;
  if (definition.multiValued) {
    const items = Array.isArray(value) ? value : [value];
    return items.map((item) => canonicalSingle(item, definition));
  }
  return canonicalSingle(value, definition);
}

function canonicalSingle(value: Json, definition: AttributeDefinition): Json {
  if (definition.type === 'complex') {
    if (!isObject(value)) throw new ScimError('invalidValue', `${definition.name} is an object of sub-attributes (${(definition.subAttributes ?? []).map((sub) => sub.name).join(', ')})`);
    return canonicalAttributes(value, definition.subAttributes ?? []);
  }
  const fits = definition.type === 'boolean' ? typeof value === 'boolean' : typeof value === 'string';
  if (!fits) throw new ScimError('invalidValue', `${definition.name} is ${definition.type === 'boolean' ? 'true or false' : 'a string'}, not ${JSON.stringify(value)}`);
  return value;
}

/** Whether an element of a multi-valued attribute matches a value filter ("type eq \"work\""). */
export function matchesValueFilter(element: Json, filter: Filter): boolean {
  switch (filter.kind) {
    case 'and':
      return matchesValueFilter(element, filter.left) && matchesValueFilter(element, filter.right);
    case 'or':
      return matchesValueFilter(element, filter.left) || matchesValueFilter(element, filter.right);
    case 'not':
      return !matchesValueFilter(element, filter.filter);
    case 'valuePath':
      throw new ScimError('invalidPath', 'value filters do not nest');
    case 'present':
    case 'compare': {
      if (filter.path.subAttribute !== null || filter.path.schema !== null) throw new ScimError('invalidPath', `inside […] name a sub-attribute, not ${describePath(filter.path)}`);
      const key = isObject(element) ? Object.keys(element).find((candidate) => same(candidate, filter.path.attribute)) : undefined;
      const actual = key === undefined || !isObject(element) ? undefined : element[key];
      if (filter.kind === 'present') return actual !== undefined && actual !== null && actual !== '';
      return compareInMemory(actual, filter.operator, filter.value);
    }
  }
}

function compareInMemory(actual: Json | undefined, operator: string, expected: FilterValue): boolean {
  if (expected === null) return operator === 'eq' ? actual === undefined || actual === null : actual !== undefined && actual !== null;
  if (typeof actual === 'string' && typeof expected === 'string') {
    const left = actual.toLowerCase();
    const right = expected.toLowerCase();
    switch (operator) {
      case 'eq': return left === right;
      case 'ne': return left !== right;
      case 'co': return left.includes(right);
      case 'sw': return left.startsWith(right);
      case 'ew': return left.endsWith(right);
      case 'gt': return left > right;
      case 'ge': return left >= right;
      case 'lt': return left < right;
      case 'le': return left <= right;
    }
  }
  if (operator === 'eq') return actual === expected;
  if (operator === 'ne') return actual !== expected;
  return false;
}

interface Target {
  readonly container: JsonObject;
  readonly definition: AttributeDefinition;
  readonly sub: AttributeDefinition | null;
  readonly valueFilter: Filter | null;
  readonly written: string;
}

function locate(resource: JsonObject, type: ResourceTypeDefinition, pathText: string): Target {
  const parsed = parsePatchPath(pathText);
  const sub = parsed.subAttribute ?? parsed.path.subAttribute;
  const found = findAttribute(type, { schema: parsed.path.schema, attribute: parsed.path.attribute, subAttribute: sub });
  if (!found) throw new ScimError('invalidPath', `${type.name} has no attribute ${pathText}`);
  const container = containerOf(resource, found.schema, type);
  return { container, definition: found.definition, sub: found.sub, valueFilter: parsed.valueFilter, written: pathText };
}

function containerOf(resource: JsonObject, schema: SchemaDefinition, type: ResourceTypeDefinition): JsonObject {
  if (schema.id === type.schema.id) return resource;
  const existing = resource[schema.id];
  if (isObject(existing)) return existing;
  const created: JsonObject = {};
  resource[schema.id] = created;
  return created;
}

function refuseReadOnly(target: Target): void {
  const definition = target.sub ?? target.definition;
  if (definition.mutability === 'readOnly' || target.definition.mutability === 'readOnly') {
    throw new ScimError('mutability', `${target.written} is read-only`);
  }
  if (definition.mutability === 'immutable' && target.sub !== null && target.valueFilter !== null) {
    throw new ScimError('mutability', `${target.written} cannot be changed once set; remove the value and add another`);
  }
}

/**
 * Applies PATCH operations, in order, to a copy of `current` (the resource as the client would
 * read it). Read-only attributes cannot be targeted; ones a path-less value carries must be equal
 * to what they are. The caller writes the result as a whole.
 */
export function applyPatch(current: JsonObject, type: ResourceTypeDefinition, operations: readonly PatchOperation[]): JsonObject {
  const resource = clone(current);
  for (const operation of operations) {
    if (operation.path === null) {
      if (operation.op === 'remove') throw new ScimError('noTarget', 'a remove operation needs a path');
      if (!isObject(operation.value)) throw new ScimError('invalidValue', `an ${operation.op} without a path takes an object of attributes`);
      const value = canonicalize(operation.value, type);
      for (const [key, item] of Object.entries(value)) {
        const extension = type.extensions.find((schema) => schema.id === key);
        if (extension && isObject(item)) {
          for (const [name, subValue] of Object.entries(item)) applyOne(resource, type, { op: operation.op, path: `${extension.id}:${name}`, value: subValue }, true);
        } else {
          applyOne(resource, type, { op: operation.op, path: key, value: item }, true);
        }
      }
      continue;
    }
    applyOne(resource, type, { ...operation, path: operation.path }, false);
  }
  return resource;
}

function applyOne(resource: JsonObject, type: ResourceTypeDefinition, operation: PatchOperation & { path: string }, pathless: boolean): void {
  const target = locate(resource, type, operation.path);
  const name = target.definition.name;
  if (pathless && target.definition.mutability === 'readOnly') {
    // A client that sends back what it read (an id, meta) changes nothing: only a different value is refused.
    if (JSON.stringify(operation.value) === JSON.stringify(target.container[name] ?? null)) return;
  }
  refuseReadOnly(target);
  if (operation.op === 'remove') return remove(target, operation.value);
  const value = operation.value === undefined ? null : target.sub ? canonicalSingle(operation.value, target.sub) : canonicalValue(operation.value, target.definition);

  if (target.valueFilter !== null) {
    const elements = Array.isArray(target.container[name]) ? (target.container[name]) : [];
    const matches = elements.filter((element) => matchesValueFilter(element, target.valueFilter!));
    if (matches.length === 0) throw new ScimError('noTarget', `no value of ${name} matches ${operation.path}`);
    for (const element of matches) {
      if (!isObject(element)) continue;
      if (target.sub) element[target.sub.name] = value;
      else if (isObject(value)) Object.assign(element, operation.op === 'replace' ? value : { ...value });
      else if (Array.isArray(value) && isObject(value[0])) Object.assign(element, value[0]);
    }
    return;
  }
  if (target.definition.multiValued) {
    if (target.sub) throw new ScimError('invalidPath', `${operation.path}: say which value with a filter, such as ${name}[type eq "work"].${target.sub.name}`);
    const added = Array.isArray(value) ? value : value === null ? [] : [value];
    const existing = operation.op === 'add' && Array.isArray(target.container[name]) ? (target.container[name]) : [];
    // Adding a value that is already there changes nothing (RFC 7644 §3.5.2.1).
    const fresh = added.filter((item) => !existing.some((old) => sameValue(old, item)));
    target.container[name] = [...existing, ...fresh];
    return;
  }
  if (target.sub) {
    const parent = isObject(target.container[name]) ? (target.container[name]) : {};
    parent[target.sub.name] = value;
    target.container[name] = parent;
    return;
  }
  if (target.definition.type === 'complex' && isObject(value)) {
    // A complex attribute's sub-attributes are merged: those not given stay as they were.
    const parent = isObject(target.container[name]) ? (target.container[name]) : {};
    target.container[name] = { ...parent, ...value };
    return;
  }
  target.container[name] = value;
}

function sameValue(left: Json, right: Json): boolean {
  if (isObject(left) && isObject(right) && typeof left['value'] === 'string' && typeof right['value'] === 'string') {
    return left['value'].toLowerCase() === right['value'].toLowerCase();
  }
  return JSON.stringify(left) === JSON.stringify(right);
}

function remove(target: Target, value: Json | undefined): void {
  const name = target.definition.name;
  if (target.definition.required && target.sub === null && target.valueFilter === null) {
    throw new ScimError('mutability', `${name} is required: it can be replaced, not removed`);
  }
  if (target.valueFilter !== null) {
    const elements = Array.isArray(target.container[name]) ? (target.container[name]) : [];
    if (target.sub) {
      for (const element of elements) if (isObject(element) && matchesValueFilter(element, target.valueFilter)) Reflect.deleteProperty(element, target.sub.name);
    } else {
      target.container[name] = elements.filter((element) => !matchesValueFilter(element, target.valueFilter!));
    }
    return;
  }
  if (target.sub) {
    const parent = target.container[name];
    if (isObject(parent)) Reflect.deleteProperty(parent, target.sub.name);
    else if (Array.isArray(parent)) for (const element of parent) if (isObject(element)) Reflect.deleteProperty(element, target.sub.name);
    return;
  }
  // "remove members" with a value lists the members to remove (as several provisioning clients send it).
  if (target.definition.multiValued && value !== undefined && value !== null) {
    const removed = canonicalValue(value, target.definition) as Json[];
    const elements = Array.isArray(target.container[name]) ? (target.container[name]) : [];
    target.container[name] = elements.filter((element) => !removed.some((item) => sameValue(element, item)));
    return;
  }
  Reflect.deleteProperty(target.container, name);
}
