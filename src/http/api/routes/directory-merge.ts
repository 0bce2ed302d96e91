import { z } from 'zod';

import type { CandidateRow } from '../../../db/queries/directory-merge.ts';
import { candidateStatuses, duplicateRules } from '../../../db/schema.ts';
import {
  confirmMergeCandidate, dismissMergeCandidate, listMergeCandidates, proposeAccountMerge, sourceCodeSchema, stageDirectory,
  type DirectoryMergeDeps,
} from '../../../domain/directory-merge.ts';
import { idSchema } from '../../../domain/person-fields.ts';
import { decodeCursor, defineRoute, fileBody, listLimit, listOf, page, type ApiRoute } from '../route.ts';

const location = z.object({ row: z.number().int().nullable(), column: z.string().nullable(), message: z.string() });
const person = z.object({ id: z.uuid(), username: z.string(), full_name: z.string() });

const stagingReport = z.object({
  batch_id: z.uuid(),
  source_code: z.string(),
  totals: z.object({
    rows: z.number().int(),
    created: z.number().int().describe('rows that looked like nobody here and became accounts awaiting activation'),
    awaiting_review: z.number().int().describe('rows that look like someone here: each waits for its candidates to be confirmed or dismissed'),
    failed: z.number().int(),
    candidates: z.number().int(),
  }),
  renames: z.array(z.object({ row: z.number().int(), source_id: z.string(), from: z.string(), to: z.string() }))
    .describe('incoming usernames already taken here, and what they became (the username rule)'),
  employee_codes_not_carried: z.array(z.object({ row: z.number().int(), source_id: z.string(), employee_code: z.string() }))
    .describe('incoming employee codes already used here: the account is created without one; the source id keeps it'),
  errors: z.array(location.extend({ row: z.number().int() })),
  warnings: z.array(location),
});

const candidate = z.object({
  id: z.uuid(),
  rule: z.enum(duplicateRules).describe('what matched first: national_id, then email, then phone, then name_and_unit (name without diacritics, same primary unit); named_by_admin for a pair an administrator proposed'),
  status: z.enum(candidateStatuses),
  staged: z.object({ id: z.uuid(), source_id: z.string(), full_name: z.string().nullable() }).nullable()
    .describe('the staged row from the other province, when the candidate is about one'),
  merged_user: person.nullable().describe('the account here that would be merged away, when the candidate is about two accounts'),
  survivor: person.describe('the account that stays; the person signs in with its credentials'),
  created_at: z.iso.datetime({ offset: true }),
  decided_by: z.string().nullable(),
  decided_at: z.iso.datetime({ offset: true }).nullable(),
});

function toCandidate(row: CandidateRow): z.input<typeof candidate> {
  return {
    id: row.id, rule: row.rule, status: row.status,
    staged: row.staged_row_id === null ? null : { id: row.staged_row_id, source_id: row.source_id ?? '', full_name: row.staged_full_name },
    merged_user: row.merged_user_id === null ? null : { id: row.merged_user_id, username: row.merged_username ?? '', full_name: row.merged_full_name ?? '' },
    survivor: { id: row.survivor_id, username: row.survivor_username, full_name: row.survivor_full_name },
    created_at: row.created_at.toISOString(), decided_by: row.decided_by, decided_at: row.decided_at?.toISOString() ?? null,
  };
}

const candidateCursor = z.object({ created_at: z.iso.datetime({ offset: true }), id: idSchema });
const idParams = z.object({ id: idSchema });

export function directoryMergeRoutes(deps: DirectoryMergeDeps): ApiRoute[] {
  return [
    defineRoute({
      method: 'post', path: '/directory-merge/batches', tag: 'directory-merge', bodyType: 'text/csv', status: 201,
      summary: 'Stage a second province\'s accounts from the bulk import\'s CSV (global super administrators). Each row is traced by its source id ' +
        '("<source_code>:<employee code, else username>"). A row that looks like nobody here becomes an account awaiting activation; one that looks like ' +
        'someone here waits, with a candidate per likely duplicate, for a confirmation. Username rule: an incoming username (or the one derived from the ' +
        'name) already taken here gets "." and the source code, lower-cased, appended ("lan.nguyen" from LA becomes "lan.nguyen.la"), then a number if ' +
        'that is taken too ("lan.nguyen.la2"); nobody here is renamed; the report lists each rename',
      query: z.object({ source_code: sourceCodeSchema, file_name: z.string().max(200).optional() }),
      body: fileBody('send the CSV file as the request body (Content-Type: text/csv)'),
      response: stagingReport,
      handler: async ({ query, body, context }) => stageDirectory(deps, context, body, { sourceCode: query.source_code, fileName: query.file_name }),
    }),
    defineRoute({
      method: 'get', path: '/directory-merge/candidates', tag: 'directory-merge',
      summary: 'Likely duplicates, oldest first, each with the rule that matched',
      query: z.object({
        status: z.enum(candidateStatuses).optional(), batch_id: idSchema.optional(), limit: listLimit, cursor: z.string().optional(),
      }),
      response: listOf(candidate),
      handler: async ({ query, context }) => {
        const after = decodeCursor(query.cursor, candidateCursor);
        const rows = await listMergeCandidates(deps, context, {
          status: query.status, batchId: query.batch_id, after: after && { created_at: new Date(after.created_at), id: after.id }, limit: query.limit + 1,
        });
        return page(rows, query.limit, toCandidate, (row) => ({ created_at: row.created_at.toISOString(), id: row.id }));
      },
    }),
    defineRoute({
      method: 'post', path: '/directory-merge/candidates', tag: 'directory-merge', status: 201,
      summary: 'Propose merging an account here into another: into survivor_id when given, else into every account that looks like it. ' +
        'Only proposes; each candidate still needs a confirmation',
      body: z.object({ merged_user_id: idSchema, survivor_id: idSchema.optional() }),
      response: z.object({ items: z.array(candidate) }),
      handler: async ({ body, context }) => ({
        items: (await proposeAccountMerge(deps, context, { mergedUserId: body.merged_user_id, survivorId: body.survivor_id })).map(toCandidate),
      }),
    }),
    defineRoute({
      method: 'post', path: '/directory-merge/candidates/{id}/confirm', tag: 'directory-merge',
      summary: 'Confirm one candidate: merges that pair, and nothing else, in one transaction, audited as one user.merge event. For two accounts: ' +
        'the merged-away one stays as history (status merged, merged_into), its units, groups, app assignments, admin roles, owned apps, ' +
        'access-review exclusions and pending personnel decisions move to the survivor ' +
        'where missing, its sessions and tokens end (back-channel logout), and every app keeps the sub it knew',
      params: idParams, response: candidate,
      handler: async ({ params, context }) => toCandidate(await confirmMergeCandidate(deps, context, params.id)),
    }),
    defineRoute({
      method: 'post', path: '/directory-merge/candidates/{id}/dismiss', tag: 'directory-merge',
      summary: 'Dismiss one candidate: two different people. A staged row with no candidate left becomes an account (username rule); refused when it shares a CCCD or email with someone here',
      params: idParams, response: candidate,
      handler: async ({ params, context }) => toCandidate(await dismissMergeCandidate(deps, context, params.id)),
    }),
  ];
}
