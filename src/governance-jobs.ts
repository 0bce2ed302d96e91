import type { Kysely } from 'kysely';

import type { Config } from './config/index.ts';
import type { Database } from './db/schema.ts';
import { closeDueAccessReviews, remindAccessReviewers } from './domain/access-reviews.ts';
import { applyInactivityPolicy } from './domain/inactivity-policy.ts';
import { applyDuePersonnelDecisions, endLapsedMoverAccess } from './domain/personnel-decisions.ts';
import { applyDueReorganizationPlans } from './domain/reorganization-plans.ts';
import type { BackchannelLogout } from './domain/users.ts';
import type { Logger } from './logger.ts';

/**
 * The governance job: everything account governance does by the calendar rather than on request.
 * A feature with work that falls due adds one named step to governanceSteps below.
 * It runs every GOVERNANCE_INTERVAL_SECONDS on one node at a time (main.ts), and on demand from
 * `mekong-id governance run [--now ISO]`. Each step is named, runs in its own transaction (or, where
 * one item must not hold back the others, in one per item), and answers counts for the log; a step
 * that fails is logged and the next one still runs. Tests pass a later `now` to move the clock.
 */
export interface GovernanceJobDeps {
  readonly db: Kysely<Database>;
  readonly backchannelLogout: BackchannelLogout;
  readonly config: Pick<Config, 'governance'>;
  readonly logger: Logger;
}

export interface GovernanceStep {
  readonly name: string;
  readonly run: (deps: GovernanceJobDeps, now: Date) => Promise<Record<string, number>>;
}

/**
 * In order: decisions first, so that a move applied today starts its grace period before any is
 * ended, and so that a plan taking effect the same day carries the people already moved; access
 * reviews after the moves, and a campaign due now closes before anyone is reminded of it.
 */
export const governanceSteps: readonly GovernanceStep[] = [
  {
    name: 'personnel decisions',
    run: (deps, now) => applyDuePersonnelDecisions({ ...deps, moverGraceDays: deps.config.governance.moverGraceDays }, now),
  },
  { name: 'mover grace periods', run: (deps, now) => endLapsedMoverAccess(deps, now) },
  {
    name: 'reorganization plans',
    run: async (deps, now) => {
      const { applied, held } = await applyDueReorganizationPlans(deps, now);
      for (const plan of held) deps.logger.warn({ plan: plan.id, reason: plan.error }, 'reorganization plan held');
      return { applied: applied.length, held: held.length };
    },
  },
  { name: 'access reviews due', run: async (deps, now) => ({ closed: await closeDueAccessReviews(deps, now) }) },
  { name: 'access review reminders', run: async (deps, now) => ({ mailed: await remindAccessReviewers(deps, now) }) },
  {
    name: 'inactivity policy',
    run: (deps, now) => applyInactivityPolicy({ ...deps, inactivityDefaults: deps.config.governance.inactivity }, now),
  },
];

/** Runs every step for `now`; answers each step's counts, or its error message. */
export async function runGovernanceJobs(
  deps: GovernanceJobDeps,
  now: Date = new Date(),
  steps: readonly GovernanceStep[] = governanceSteps,
): Promise<Record<string, Record<string, number> | { error: string }>> {
  const results: Record<string, Record<string, number> | { error: string }> = {};
  for (const step of steps) {
    try {
      results[step.name] = await step.run(deps, now);
      if (Object.values(results[step.name]!).some((count) => count > 0)) deps.logger.info({ step: step.name, ...results[step.name] }, 'governance step done');
    } catch (error) {
      deps.logger.error({ err: error, step: step.name }, 'governance step failed');
      results[step.name] = { error: error instanceof Error ? error.message : String(error) };
    }
  }
  return results;
}
