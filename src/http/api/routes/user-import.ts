import { z } from 'zod';

import { importUsersAs, type ImportDeps } from '../../../domain/user-import.ts';
import { defineRoute, fileBody, type ApiRoute } from '../route.ts';

const location = z.object({ row: z.number().int().nullable(), column: z.string().nullable(), message: z.string() });

export const importReport = z.object({
  dry_run: z.boolean(),
  totals: z.object({ rows: z.number().int(), created: z.number().int(), updated: z.number().int(), unchanged: z.number().int(), failed: z.number().int() }),
  rows: z.array(z.object({
    row: z.number().int().describe('the line in the file, the header being line 1'),
    outcome: z.enum(['create', 'update', 'unchanged', 'error']),
    employee_code: z.string().nullable(),
    username: z.string().nullable(),
    changes: z.array(z.string()).optional().describe('for an update: the fields that change'),
  })),
  errors: z.array(location.extend({ row: z.number().int() })),
  warnings: z.array(location),
});

export function userImportRoutes(deps: ImportDeps): ApiRoute[] {
  return [
    defineRoute({
      method: 'post', path: '/users/import', tag: 'users', bodyType: 'text/csv',
      summary: 'Import people from HR\'s CSV (UTF-8 with or without BOM, comma or semicolon, English or Vietnamese headers). ' +
        'dry_run=true reports row by row what would change; without it the valid rows are written, idempotently, keyed on employee code or username',
      query: z.object({
        dry_run: z.enum(['true', 'false']).default('false').transform((value) => value === 'true'),
        file_name: z.string().max(200).optional(),
      }),
      body: fileBody('send the CSV file as the request body (Content-Type: text/csv)'),
      response: importReport,
      handler: async ({ query, body, context }) => {
        const report = await importUsersAs(deps, context, body, { dryRun: query.dry_run, fileName: query.file_name });
        return { ...report, dry_run: report.dryRun };
      },
    }),
  ];
}
