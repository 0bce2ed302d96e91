import { resourceTypes, scimSchemas, type SchemaDefinition } from './schemas.ts';

/**
 * The discovery documents (RFC 7644 §4): what this service provider supports, its resource types,
 * and its schemas. Built from the same definitions the filters and PATCH read.
 */

/** The most resources one page holds; a larger count is cut to it (RFC 7644 §3.4.2.4). */
export const maxResultsPerPage = 500;
export const defaultResultsPerPage = 100;

export function serviceProviderConfig(baseUrl: string) {
  return {
    schemas: [scimSchemas.serviceProviderConfig],
    patch: { supported: true },
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
    filter: { supported: true, maxResults: maxResultsPerPage },
    changePassword: { supported: false },
    sort: { supported: true },
    etag: { supported: true },
    authenticationSchemes: [{
      type: 'oauthbearertoken',
      name: 'OAuth 2.0 bearer token',
      description: 'An access token from client_credentials at the token endpoint, for the resource ' +
        `${baseUrl} with the scope scim; a token bound by DPoP is sent as "DPoP <token>" with its proof.`,
      specUri: 'https://www.rfc-editor.org/rfc/rfc6750',
      primary: true,
    }],
    meta: { resourceType: 'ServiceProviderConfig', location: `${baseUrl}/ServiceProviderConfig` },
  };
}

export function resourceTypeDocument(name: 'User' | 'Group', baseUrl: string) {
  const type = resourceTypes[name];
  return {
    schemas: [scimSchemas.resourceType],
    id: type.name,
    name: type.name,
    endpoint: type.endpoint,
    description: type.schema.description,
    schema: type.schema.id,
    schemaExtensions: type.extensions.map((extension) => ({ schema: extension.id, required: false })),
    meta: { resourceType: 'ResourceType', location: `${baseUrl}/ResourceTypes/${type.name}` },
  };
}

export function schemaDocument(schema: SchemaDefinition, baseUrl: string) {
  return {
    schemas: [scimSchemas.schema],
    id: schema.id,
    name: schema.name,
    description: schema.description,
    attributes: schema.attributes,
    meta: { resourceType: 'Schema', location: `${baseUrl}/Schemas/${schema.id}` },
  };
}
