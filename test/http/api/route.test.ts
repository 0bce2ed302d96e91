import { describe, expect, it } from 'vitest';
import { z } from 'zod';

import { jsonPieces } from '../../../src/http/api/route.ts';
import { importReport } from '../../../src/http/api/routes/user-import.ts';

/** An import report of `length` rows as the domain builds it: with what the console needs and the API's schema leaves out. */
function report(length: number) {
  return {
    dry_run: true,
    dryRun: true,
    totals: { rows: length, created: length - 2, updated: 1, unchanged: 0, failed: 1 },
    rows: Array.from({ length }, (_, index) => ({
      row: index + 2,
      outcome: index === 0 ? 'update' : index === 1 ? 'error' : 'create',
      employee_code: `NV${index}`,
      username: index === 1 ? null : `nguoi.${index}`,
      ...(index === 0 ? { changes: ['full_name', 'email'] } : {}),
      national_id: '082190000123',
    })),
    errors: [{ row: 3, column: 'Thư điện tử', message: 'not an email address', localized: { key: 'problem.email', params: {} } }],
    warnings: [],
  };
}

describe('output validation of a body with a long list', () => {
  it('gives, in pieces, exactly the JSON of the whole parse: same fields, same order, the unnamed ones left out', () => {
    const body = report(2345);
    const pieces = jsonPieces(importReport, body);
    expect(pieces!.length).toBeGreaterThan(5);
    const text = pieces!.join('');
    expect(text).toBe(JSON.stringify(importReport.parse(body)));
    expect(text).not.toContain('localized');
    expect(text).not.toContain('082190000123');
    expect(text).not.toContain('dryRun');
  });

  it('leaves a short list, and a schema that checks more than its fields, to the whole parse', () => {
    expect(jsonPieces(importReport, report(1000))).toBeUndefined();
    const refined = z.object({ rows: z.array(z.number()) }).refine((value) => value.rows.length < 5000, 'too many');
    expect(jsonPieces(refined, { rows: Array.from({ length: 2000 }, (_, index) => index) })).toBeUndefined();
    expect(jsonPieces(z.object({ rows: z.array(z.number()) }).strict(), { rows: Array.from({ length: 2000 }, (_, index) => index) })).toBeUndefined();
  });

  it('refuses a list with one member its schema does not allow, before any piece is sent', () => {
    const body = report(3000);
    body.rows[2500]!.outcome = 'deleted';
    expect(() => jsonPieces(importReport, body)).toThrow(z.ZodError);
  });
});
