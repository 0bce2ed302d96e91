import { describe, expect, it } from 'vitest';

import { useProvinceServer } from '../../support/admin-api.ts';

const world = useProvinceServer();

interface Report {
  dry_run: boolean;
  totals: { rows: number; created: number; failed: number };
  rows: Array<{ row: number; outcome: string; employee_code: string | null; username: string | null }>;
  errors: Array<Record<string, unknown>>;
}

describe('POST /users/import with a long file', () => {
  it('answers 1,500 rows with the whole report as one JSON document, every error as the schema names it', async () => {
    const rows = Array.from({ length: 1500 }, (_, index) =>
      `CB-L${index},Lê Thị Hồng ${index},${index % 500 === 7 ? 'not-an-email' : `hong.le${index}@caibe.tiengiang.gov.vn`},TG.CAIBE`);
    const csv = `Mã cán bộ,Họ và tên,Thư điện tử,Mã đơn vị\n${rows.join('\n')}\n`;
    const response = await world.caiBeAdmin.api<Report>('POST', '/users/import?dry_run=true', csv, { 'content-type': 'text/csv' });
    expect(response.status, JSON.stringify(response.body).slice(0, 300)).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const report = response.body;
    expect(report.dry_run).toBe(true);
    expect(report.totals).toMatchObject({ rows: 1500, created: 1497, failed: 3 });
    expect(report.rows.map((row) => row.row)).toEqual(Array.from({ length: 1500 }, (_, index) => index + 2));
    expect(report.rows[0]).toEqual({ row: 2, outcome: 'create', employee_code: 'CB-L0', username: expect.stringMatching(/^[a-z0-9.]+$/) as unknown });
    expect(report.rows[7]).toEqual({ row: 9, outcome: 'error', employee_code: 'CB-L7', username: null });
    expect(report.errors.map((error) => error['row'])).toEqual([9, 509, 1009]);
    // The review page's translations are the console's; the API says its problems in English only.
    for (const error of report.errors) expect(Object.keys(error).sort()).toEqual(['column', 'message', 'row']);
  });
});
