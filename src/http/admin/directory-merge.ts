import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';

import { findUserByLogin } from '../../db/queries/users.ts';
import {
  confirmMergeCandidate, dismissMergeCandidate, getStagingReport, listMergeCandidates, proposeAccountMerge, sourceCodeSchema, stageDirectory,
  type StagingReport,
} from '../../domain/directory-merge.ts';
import { idSchema } from '../../domain/person-fields.ts';
import { AppError, assertThat, invalidInput, localizable } from '../../errors.ts';
import type { Translate } from '../../i18n/catalog.ts';
import { requireCsrfToken } from '../csrf.ts';
import { formBody, uploadBody, type UploadedFile } from '../forms.ts';
import { bodyOf, contextOf, done, refusedAsForm, render, type AdminConsoleDeps } from './pages.ts';

/** A second province's staff list, like HR's: 100,000 people come to about 20 MB. */
const maxUploadBytes = 20 * 1024 * 1024;
const listSize = 200;

const stageFields = z.object({ source_code: z.string().max(20).default('') });
const proposeFields = z.object({ merged_login: z.string().max(254).default(''), survivor_login: z.string().max(254).default('') });

/**
 * The directory merge in the console (domain/directory-merge.ts): stage another province's CSV,
 * propose two accounts here, and decide each likely duplicate, confirm or dismiss, with the rule
 * that matched beside it. Plain forms: it works without JavaScript.
 */
export function mountDirectoryMerge(router: Router, deps: AdminConsoleDeps, guard: Middleware[]): void {
  router.get('/directory-merge', ...guard, async (ctx) => {
    const batch = idSchema.safeParse(ctx.query['batch']);
    await renderPage(deps, ctx, batch.success ? batch.data : null, null);
  });

  router.post('/directory-merge/batches', uploadBody({ maxBytes: maxUploadBytes }), requireCsrfToken, ...guard, async (ctx) => {
    const body = bodyOf(ctx) as { file?: UploadedFile } & Record<string, unknown>;
    const fields = stageFields.catch(stageFields.parse({})).parse(body);
    const report = await refusedAsForm(ctx, async () => {
      assertThat(body.file && body.file.content.length > 0, () => invalidInput(localizable('choose the CSV file to stage', 'problem.merge.choose_file')));
      const sourceCode = sourceCodeSchema.safeParse(fields.source_code);
      assertThat(sourceCode.success, () => invalidInput(localizable('a source province code is required', 'problem.merge.source_code_required')));
      return stageDirectory(deps, contextOf(ctx), body.file.content, { sourceCode: sourceCode.data, fileName: body.file.name });
    }, (message) => renderPage(deps, ctx, null, message));
    if (report) done(ctx, `/admin/directory-merge?batch=${report.batch_id}`, 'merge_staged');
  });

  router.post('/directory-merge/candidates', formBody(), requireCsrfToken, ...guard, async (ctx) => {
    const form = proposeFields.catch(proposeFields.parse({})).parse(bodyOf(ctx));
    const proposed = await refusedAsForm(ctx, async () => {
      const merged = await userByLogin(deps, form.merged_login);
      const survivor = form.survivor_login.trim() === '' ? undefined : await userByLogin(deps, form.survivor_login);
      return proposeAccountMerge(deps, contextOf(ctx), { mergedUserId: merged, survivorId: survivor });
    }, (message) => renderPage(deps, ctx, null, message));
    if (proposed) done(ctx, '/admin/directory-merge', proposed.length === 0 ? 'merge_nothing_found' : 'merge_proposed');
  });

  for (const [verb, decide, notice] of [['confirm', confirmMergeCandidate, 'merge_confirmed'], ['dismiss', dismissMergeCandidate, 'merge_dismissed']] as const) {
    router.post(`/directory-merge/candidates/:id/${verb}`, formBody(), requireCsrfToken, ...guard, async (ctx) => {
      const id = idSchema.safeParse(ctx.params['id']);
      assertThat(id.success, () => new AppError('not_found', 'no such merge candidate', 404));
      const decided = await refusedAsForm(ctx, () => decide(deps, contextOf(ctx), id.data), (message) => renderPage(deps, ctx, null, message));
      if (decided) done(ctx, '/admin/directory-merge', notice);
    });
  }
}

async function userByLogin(deps: AdminConsoleDeps, login: string): Promise<string> {
  const user = login.trim() === '' ? undefined : await findUserByLogin(deps.db, login.trim());
  assertThat(user, () => invalidInput(localizable(`no account has the username or email "${login.trim()}"`, 'problem.merge.no_account_for_login', { login: login.trim() })));
  return user.id;
}

async function renderPage(deps: AdminConsoleDeps, ctx: Context, batchId: string | null, error: string | null): Promise<void> {
  const context = contextOf(ctx);
  const [candidates, report] = await Promise.all([
    listMergeCandidates(deps, context, { status: 'pending', batchId: batchId ?? undefined, limit: listSize }),
    batchId === null ? Promise.resolve(null) : getStagingReport(deps, context, batchId),
  ]);
  render(deps, ctx, 'admin/directory-merge', 'admin.merge.title', (t: Translate) => ({
    error,
    report: report && reportView(report),
    candidates: candidates.map((candidate) => ({ ...candidate, ruleLabel: t(`admin.merge.rule.${candidate.rule}`) })),
  }));
}

function reportView(report: StagingReport) {
  return { ...report, totals: Object.fromEntries(Object.entries(report.totals).map(([key, value]) => [key, String(value)])) };
}
