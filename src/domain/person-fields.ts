import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { z } from 'zod';

import { addLocalizedIssue, localizable } from '../errors.ts';

/**
 * The rules for each field of a person, as zod schemas that also normalize. The admin API, the
 * bulk import and the seed all parse through these, so one person is one shape wherever they came from.
 */

/**
 * An id in a request (a path, a query, a body). Lower-cased, as the database returns uuids, so that
 * an id compares equal to itself however a client spelled it (nobody grants themselves a role by
 * writing their own id in capitals).
 */
export const idSchema = z.uuid().transform((value) => value.toLowerCase());

/** Vietnamese names are stored composed (NFC) with single spaces, so that equal names compare equal. */
export const normalizeName = (value: string) => value.normalize('NFC').trim().replace(/\s+/gu, ' ');

// eslint-disable-next-line no-control-regex -- control characters are exactly what this refuses
const controlCharacters = /[\u0000-\u001f\u007f]/u;

export const fullNameSchema = z
  .string()
  .transform(normalizeName)
  .pipe(z.string().min(1, 'a full name is required').max(200, 'a full name has at most 200 characters')
    .refine((value) => !controlCharacters.test(value), 'a full name cannot contain control characters'));

export const usernameSchema = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$/, 'a username is 2 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit');

export const emailSchema = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.email('not a valid email address').max(254, 'an email address has at most 254 characters'));

/**
 * A phone number as people write it in Vietnam (0912 345 678, +84 912 345 678, 84912345678,
 * (0273) 3.873.123), stored in E.164 (+84912345678). libphonenumber-js knows which ranges exist.
 */
export const phoneSchema = z.string().trim().transform((value, ctx) => {
  // "84…" without a plus is how spreadsheets that ate the "+" write an international number.
  const candidate = /^84\d{9,10}$/.test(value.replace(/[\s.()-]/g, '')) ? `+${value}` : value;
  const phone = parsePhoneNumberFromString(candidate, 'VN');
  if (!phone?.isValid()) {
    addLocalizedIssue(ctx, localizable(`"${value}" is not a valid phone number (write 0912 345 678 or +84 912 345 678)`, 'problem.person.phone', { phone: value }));
    return z.NEVER;
  }
  return phone.number;
});

/** The province codes a CCCD can start with (Circular 07/2016/TT-BCA, appendix). */
const cccdProvinceCodes = new Set([
  '001', '002', '004', '006', '008', '010', '011', '012', '014', '015', '017', '019', '020', '022', '024', '025',
  '026', '027', '030', '031', '033', '034', '035', '036', '037', '038', '040', '042', '044', '045', '046', '048',
  '049', '051', '052', '054', '056', '058', '060', '062', '064', '066', '067', '068', '070', '072', '074', '075',
  '077', '079', '080', '082', '083', '084', '086', '087', '089', '091', '092', '093', '094', '095', '096',
]);

/**
 * A citizen identity number (CCCD): 12 digits, the first three the province of birth registration,
 * the fourth the sex and century, the next two the year of birth.
 */
export const nationalIdSchema = z.string().transform((value) => value.replace(/[\s.]/g, '')).pipe(
  z.string()
    .regex(/^\d{12}$/, 'a citizen identity number (CCCD) has exactly 12 digits')
    .refine((value) => cccdProvinceCodes.has(value.slice(0, 3)), 'a citizen identity number (CCCD) starts with a province code that does not exist'),
);

/** Shown in lists: enough to tell two people apart on the phone, not enough to misuse. */
export function maskNationalId(nationalId: string): string {
  return `${'*'.repeat(nationalId.length - 3)}${nationalId.slice(-3)}`;
}

export const employeeCodeSchema = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$/, 'an employee code is 1 to 64 letters, digits, ".", "_", "/" or "-"');

export const positionSchema = z
  .string()
  .transform(normalizeName)
  .pipe(z.string().max(200, 'a position has at most 200 characters'));

export const orgUnitCodeSchema = z
  .string()
  .trim()
  .toUpperCase()
  .regex(/^[A-Z0-9][A-Z0-9._-]{0,63}$/, 'a unit code is 1 to 64 letters, digits, ".", "_" or "-"');

/**
 * Vietnamese text without case or diacritics, đ read as d ("Đặng Thị Ánh" → "dang thi anh"), as
 * people type it on a keyboard without Vietnamese input. The database has its own twin of this for
 * search (mekong_search_key, in the migrations), which a migration cannot import.
 */
export function foldVietnamese(value: string): string {
  return value.normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/[đĐ]/g, 'd').toLowerCase();
}

/**
 * The login name HR would give someone: the given name then the initials of the rest, without
 * diacritics ("Nguyễn Thị Ánh Tuyết" → "tuyetnta"). Uniqueness is the caller's job.
 */
export function usernameFromName(fullName: string): string {
  const words = foldVietnamese(fullName).split(/[^a-z0-9]+/).filter(Boolean);
  const given = words.at(-1) ?? 'user';
  const initials = words.slice(0, -1).map((word) => word[0]).join('');
  const base = `${given}${initials}`.slice(0, 60);
  return base.length >= 2 ? base : `${base}user`;
}
