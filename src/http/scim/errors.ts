import { isUniqueViolation } from '../../db/errors.ts';
import { scimSchemas } from '../../domain/scim/schemas.ts';
import { ScimError, type AppError } from '../../errors.ts';

/** Where SCIM lives; below it, errors are SCIM's own JSON (RFC 7644 §3.12), not the API's. */
export const scimPrefix = '/scim/v2';

export const scimContentType = 'application/scim+json; charset=utf-8';

/**
 * The SCIM error body for an error the handler chose to show (null: a 500 that reveals nothing).
 * Errors from the shared domain carry the admin API's codes; they get the scimType that says the
 * same thing: a bad field is invalidValue, a body that is not JSON invalidSyntax, a value another
 * resource holds (the database's unique index said so) uniqueness.
 */
export function scimErrorBody(error: AppError | null, status: number, message: string) {
  return {
    schemas: [scimSchemas.error],
    status: String(status),
    ...(scimTypeOf(error) === undefined ? {} : { scimType: scimTypeOf(error) }),
    detail: message,
  };
}

function scimTypeOf(error: AppError | null): string | undefined {
  if (error === null) return undefined;
  if (error instanceof ScimError) return error.scimType;
  if (error.code === 'conflict' && isUniqueViolation(error.cause)) return 'uniqueness';
  if (error.code === 'invalid_input') return error.message.startsWith('the body') ? 'invalidSyntax' : 'invalidValue';
  return undefined;
}
