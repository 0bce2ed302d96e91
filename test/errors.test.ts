import { describe, expect, it } from 'vitest';
import { z } from 'zod';

import { addLocalizedIssue, AppError, conflict, localizable, localizedIssueMessage, messageIn } from '../src/errors.ts';
import { translator } from '../src/i18n/catalog.ts';

describe('a localizable error', () => {
  it('keeps its English as the message the API and the logs carry, and says itself in a page\'s language', () => {
    const error = new AppError('not_found', localizable('no user with id 42', 'problem.user.not_found', { id: '42' }), 404);
    expect(error.message).toBe('no user with id 42');
    expect(messageIn(translator('vi'), error)).toBe('Không tìm thấy người dùng có mã 42.');
    expect(messageIn(translator('en'), error)).toBe('There is no user with the id 42.');
  });

  it('falls back to its English on a page when it has no catalog entry', () => {
    const error = conflict('something only the logs explain');
    expect(error.localized).toBeUndefined();
    expect(messageIn(translator('vi'), error)).toBe('something only the logs explain');
  });

  it('checks a key\'s placeholders at compile time', () => {
    // @ts-expect-error the entry names {id}, which is missing
    localizable('no user', 'problem.user.not_found');
    // @ts-expect-error the entry has no placeholders
    localizable('closed already', 'problem.review.closed', { id: '1' });
    expect(localizable('closed already', 'problem.review.closed').localized).toEqual({ key: 'problem.review.closed' });
  });
});

describe('a localized form problem', () => {
  const schema = z.string().superRefine((value, ctx) => {
    if (value !== 'ok') addLocalizedIssue(ctx, localizable(`"${value}" is not a valid phone number`, 'problem.person.phone', { phone: value }), ['phone']);
  });

  it('keeps its English for the API and gives pages its catalog entry', () => {
    const [issue] = schema.safeParse('12').error!.issues;
    expect(issue!.message).toBe('"12" is not a valid phone number');
    expect(issue!.path).toEqual(['phone']);
    expect(localizedIssueMessage(translator('vi'), issue!)).toBe('"12" không phải là số điện thoại hợp lệ (hãy viết 0912 345 678 hoặc +84 912 345 678).');
  });

  it('is null for an issue without an entry, so the caller chooses what to show', () => {
    const [issue] = z.string().min(3).safeParse('a').error!.issues;
    expect(localizedIssueMessage(translator('vi'), issue!)).toBeNull();
  });
});
