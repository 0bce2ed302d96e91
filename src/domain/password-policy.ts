import { dictionary } from '@zxcvbn-ts/language-common';

import { foldVietnamese } from './person-fields.ts';

/**
 * What makes a password acceptable, after NIST SP 800-63B: length, and not being a password an
 * attacker tries first. No composition rules (they make passwords harder to remember, not to
 * guess). Refused, each with its reason:
 * - shorter than the configured minimum, or longer than 256 characters;
 * - one of the common passwords that zxcvbn's list ranks (about 49,000, most frequent first), compared
 *   without regard to case;
 * - little more than the person's own name, username or email, or the service's name, with digits
 *   and punctuation around them ("NguyenVanAn1990", "mekongid@2026"), compared without diacritics;
 * - one or two characters over and over.
 */
export interface PasswordPolicy {
  readonly minLength: number;
  /** Days before a periodic change is due at sign-in; 0 or unset for never. */
  readonly maxAgeDays?: number | undefined;
}

export const maxPasswordLength = 256;

/** Who the password is for: their own words are the first an attacker tries. */
export interface PasswordContext {
  readonly username?: string | null | undefined;
  readonly fullName?: string | null | undefined;
  readonly email?: string | null | undefined;
}

const commonPasswords = new Set((dictionary['passwords-common']).map((password) => password.toLowerCase()));

/** The service's own names, in the forms people build passwords from. */
const serviceWords = ['mekong', 'mekongid', 'tiengiang', 'dongthap', 'matkhau', 'password'];

/** Without case, diacritics (đ as d) or anything but letters and digits. */
function fold(value: string): string {
  return foldVietnamese(value).replace(/[^a-z0-9]/g, '');
}

function contextWords(context: PasswordContext): string[] {
  const sources = [context.username, context.fullName, context.email?.split('@')[0]].filter((value): value is string => Boolean(value));
  const words = sources.flatMap((source) => [fold(source), ...source.split(/[\s._@+-]+/u).map(fold)]);
  return [...new Set([...words, ...serviceWords])].filter((word) => word.length >= 2).sort((a, b) => b.length - a.length);
}

/** `same_as_current` is the password change's own check (credentials.ts), the others this module's. */
export type PasswordProblem = 'too_short' | 'too_long' | 'common' | 'repetitive' | 'personal' | 'same_as_current';

/** Every reason the password is refused, as codes a page translates; empty when it is acceptable. */
export function checkPassword(password: string, context: PasswordContext, policy: PasswordPolicy): PasswordProblem[] {
  const normalized = password.normalize('NFKC');
  const length = [...new Intl.Segmenter('vi', { granularity: 'grapheme' }).segment(normalized)].length;
  if (length < policy.minLength) return ['too_short'];
  if (length > maxPasswordLength) return ['too_long'];

  const problems: PasswordProblem[] = [];
  if (commonPasswords.has(normalized.toLowerCase())) problems.push('common');
  const folded = fold(normalized);
  if (new Set(folded).size <= 2) problems.push('repetitive');
  let rest = folded;
  for (const word of contextWords(context)) rest = rest.replaceAll(word, '');
  if (folded.length > 0 && rest.replace(/[0-9]/g, '').length < 4) problems.push('personal');
  return problems;
}

/** The same reasons in English, for the API and the CLI. */
export function passwordProblems(password: string, context: PasswordContext, policy: PasswordPolicy): string[] {
  const messages: Record<PasswordProblem, string> = {
    too_short: `a password needs at least ${policy.minLength} characters`,
    too_long: `a password can have at most ${maxPasswordLength} characters`,
    common: 'this is one of the most common passwords, the first an attacker tries',
    repetitive: 'a password needs more than one or two characters repeated',
    personal: 'a password must be more than your name, username or email, or the name of the service, with digits added',
    same_as_current: 'the new password must differ from the current one',
  };
  return checkPassword(password, context, policy).map((problem) => messages[problem]);
}
