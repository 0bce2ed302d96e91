/**
 * The SCIM schemas Mekong ID serves (RFC 7643 §4, §7): which attributes a User and a Group have,
 * their types and mutability. /Schemas publishes these definitions as they are; the filter
 * resolver and the PATCH engine read them to know what a path names.
 */

export const scimSchemas = {
  user: 'urn:ietf:params:scim:schemas:core:2.0:User',
  group: 'urn:ietf:params:scim:schemas:core:2.0:Group',
  enterpriseUser: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User',
  /** Mekong ID's own extensions: the org unit a person works in or a group belongs to. */
  mekongUser: 'urn:mekong-id:params:scim:schemas:extension:2.0:User',
  mekongGroup: 'urn:mekong-id:params:scim:schemas:extension:2.0:Group',
  listResponse: 'urn:ietf:params:scim:api:messages:2.0:ListResponse',
  patchOp: 'urn:ietf:params:scim:api:messages:2.0:PatchOp',
  error: 'urn:ietf:params:scim:api:messages:2.0:Error',
  searchRequest: 'urn:ietf:params:scim:api:messages:2.0:SearchRequest',
  serviceProviderConfig: 'urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig',
  resourceType: 'urn:ietf:params:scim:schemas:core:2.0:ResourceType',
  schema: 'urn:ietf:params:scim:schemas:core:2.0:Schema',
} as const;

export type AttributeType = 'string' | 'boolean' | 'dateTime' | 'reference' | 'complex';
export type Mutability = 'readOnly' | 'readWrite' | 'immutable' | 'writeOnly';

export interface AttributeDefinition {
  readonly name: string;
  readonly type: AttributeType;
  readonly multiValued: boolean;
  readonly description: string;
  readonly required: boolean;
  readonly caseExact: boolean;
  readonly mutability: Mutability;
  readonly returned: 'always' | 'default' | 'never' | 'request';
  readonly uniqueness: 'none' | 'server' | 'global';
  readonly subAttributes?: readonly AttributeDefinition[];
  readonly referenceTypes?: readonly string[];
  readonly canonicalValues?: readonly string[];
}

type Options = Partial<Omit<AttributeDefinition, 'name' | 'type' | 'description'>>;

function attribute(name: string, type: AttributeType, description: string, options: Options = {}): AttributeDefinition {
  return {
    name, type, description, multiValued: false, required: false, caseExact: false, mutability: 'readWrite', returned: 'default', uniqueness: 'none', ...options,
  };
}

const readOnly = { mutability: 'readOnly' } as const;

const unitReference = (what: string) => attribute('orgUnit', 'complex', `The org unit ${what}.`, {
  subAttributes: [
    attribute('value', 'string', 'The unit\'s id; give it to place the resource in a unit.', { caseExact: true }),
    attribute('code', 'string', 'The unit\'s code, such as TG.CAIBE.', readOnly),
    attribute('display', 'string', 'The unit\'s name.', readOnly),
  ],
});

const contact = (name: string, description: string) => attribute(name, 'complex', description, {
  multiValued: true,
  subAttributes: [
    attribute('value', 'string', name === 'emails' ? 'The address.' : 'The number, in E.164 form (+84…).'),
    attribute('type', 'string', 'Always "work": Mekong ID keeps one, the work one.', { canonicalValues: ['work'] }),
    attribute('primary', 'boolean', 'Always true: the one value is the primary one.'),
  ],
});

const meta = attribute('meta', 'complex', 'Resource metadata.', {
  ...readOnly,
  subAttributes: [
    attribute('resourceType', 'string', 'User or Group.', { ...readOnly, caseExact: true }),
    attribute('created', 'dateTime', 'When the resource was created.', readOnly),
    attribute('lastModified', 'dateTime', 'When the resource last changed.', readOnly),
    attribute('location', 'reference', 'The resource\'s URI.', { ...readOnly, caseExact: true, referenceTypes: ['uri'] }),
    attribute('version', 'string', 'The weak ETag of the version returned.', { ...readOnly, caseExact: true }),
  ],
});

const id = attribute('id', 'string', 'The id Mekong ID gave the resource; it never changes.', { ...readOnly, caseExact: true, returned: 'always', uniqueness: 'server' });

export interface SchemaDefinition {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly attributes: readonly AttributeDefinition[];
}

export const userSchema: SchemaDefinition = {
  id: scimSchemas.user,
  name: 'User',
  description: 'A person: a civil servant, a doctor, a member of staff.',
  attributes: [
    id,
    attribute('userName', 'string', 'The login name, unique without regard to case.', { required: true, uniqueness: 'server' }),
    attribute('name', 'complex', 'The person\'s name, family name first as Vietnamese write it: "Nguyễn Thị Ánh Tuyết" is familyName Nguyễn, middleName Thị Ánh, givenName Tuyết.', {
      subAttributes: [
        attribute('formatted', 'string', 'The full name as written (Unicode NFC); what Mekong ID stores.'),
        attribute('familyName', 'string', 'The first word of the full name.'),
        attribute('middleName', 'string', 'The words between the family name and the given name.'),
        attribute('givenName', 'string', 'The last word of the full name, by which people are addressed and sorted.'),
      ],
    }),
    attribute('displayName', 'string', 'The full name, as name.formatted.'),
    attribute('title', 'string', 'The person\'s position (Chức vụ).'),
    attribute('active', 'boolean', 'Whether the person may sign in: false while their account waits for activation or is suspended.'),
    contact('emails', 'The work email address, at most one.'),
    contact('phoneNumbers', 'The work phone number, at most one.'),
    attribute('groups', 'complex', 'The groups the person belongs to (that this client may see); change them through the Group.', {
      ...readOnly,
      multiValued: true,
      subAttributes: [
        attribute('value', 'string', 'The group\'s id.', { ...readOnly, caseExact: true }),
        attribute('$ref', 'reference', 'The group\'s URI.', { ...readOnly, caseExact: true, referenceTypes: ['Group'] }),
        attribute('display', 'string', 'The group\'s name.', readOnly),
      ],
    }),
    meta,
  ],
};

export const enterpriseUserSchema: SchemaDefinition = {
  id: scimSchemas.enterpriseUser,
  name: 'EnterpriseUser',
  description: 'The enterprise extension (RFC 7643 §4.3). There is no manager: Mekong ID records units and their administrators, not line managers.',
  attributes: [
    attribute('employeeNumber', 'string', 'The employee code (Mã cán bộ).'),
    attribute('organization', 'string', 'The name of the top unit (the province) above the person\'s unit.', readOnly),
    attribute('department', 'string', 'The name of the person\'s primary org unit.', readOnly),
  ],
};

export const mekongUserSchema: SchemaDefinition = {
  id: scimSchemas.mekongUser,
  name: 'MekongUser',
  description: 'Where the person works in the org tree.',
  attributes: [unitReference('the person works in (their primary unit); required to create a person unless the client administers exactly one subtree')],
};

export const groupSchema: SchemaDefinition = {
  id: scimSchemas.group,
  name: 'Group',
  description: 'A group of people, kept by an org unit.',
  attributes: [
    id,
    attribute('displayName', 'string', 'The group\'s name, unique within its unit.', { required: true }),
    attribute('members', 'complex', 'The people in the group (those this client may see).', {
      multiValued: true,
      subAttributes: [
        attribute('value', 'string', 'The person\'s id.', { caseExact: true, mutability: 'immutable' }),
        attribute('$ref', 'reference', 'The person\'s URI.', { ...readOnly, caseExact: true, referenceTypes: ['User'] }),
        attribute('display', 'string', 'The person\'s full name.', readOnly),
        attribute('type', 'string', 'Always "User": groups hold people, not groups.', { ...readOnly, canonicalValues: ['User'] }),
      ],
    }),
    meta,
  ],
};

export const mekongGroupSchema: SchemaDefinition = {
  id: scimSchemas.mekongGroup,
  name: 'MekongGroup',
  description: 'The org unit that keeps the group.',
  attributes: [{ ...unitReference('that keeps the group; required to create one unless the client administers exactly one subtree'), mutability: 'immutable' }],
};

export interface ResourceTypeDefinition {
  readonly name: 'User' | 'Group';
  readonly endpoint: string;
  readonly schema: SchemaDefinition;
  readonly extensions: readonly SchemaDefinition[];
}

export const resourceTypes: Readonly<Record<'User' | 'Group', ResourceTypeDefinition>> = {
  User: { name: 'User', endpoint: '/Users', schema: userSchema, extensions: [enterpriseUserSchema, mekongUserSchema] },
  Group: { name: 'Group', endpoint: '/Groups', schema: groupSchema, extensions: [mekongGroupSchema] },
};

export const allSchemas: readonly SchemaDefinition[] = [userSchema, enterpriseUserSchema, mekongUserSchema, groupSchema, mekongGroupSchema];

/** An attribute found in a resource type's schemas: which schema holds it, and its definition. */
export interface FoundAttribute {
  readonly schema: SchemaDefinition;
  readonly definition: AttributeDefinition;
  readonly sub: AttributeDefinition | null;
}

const same = (left: string, right: string) => left.toLowerCase() === right.toLowerCase();

/**
 * What a path names in a resource type, looked up without regard to case (RFC 7643 §2.1). A path
 * without a schema URN may name an extension's attribute too ("employeeNumber"), as long as the
 * core schema has no attribute of that name. Undefined when nothing matches.
 */
export function findAttribute(
  type: ResourceTypeDefinition,
  path: { schema: string | null; attribute: string; subAttribute: string | null },
): FoundAttribute | undefined {
  const schemas = path.schema === null ? [type.schema, ...type.extensions] : [type.schema, ...type.extensions].filter((schema) => same(schema.id, path.schema!));
  for (const schema of schemas) {
    const definition = schema.attributes.find((candidate) => same(candidate.name, path.attribute));
    if (!definition) continue;
    if (path.subAttribute === null) return { schema, definition, sub: null };
    const sub = definition.subAttributes?.find((candidate) => same(candidate.name, path.subAttribute!));
    return sub ? { schema, definition, sub } : undefined;
  }
  return undefined;
}

/** A canonical name for a found attribute: "name.givenName", "employeeNumber", "members.value". */
export function canonicalName(found: FoundAttribute): string {
  return found.sub === null ? found.definition.name : `${found.definition.name}.${found.sub.name}`;
}
