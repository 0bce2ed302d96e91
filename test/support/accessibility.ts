import { createRequire } from 'node:module';
import fs from 'node:fs';

import type { Page } from 'playwright-core';
import { expect } from 'vitest';

/** axe-core's source, read once: it runs inside the page under test. */
const axeSource = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AccessibilityProblem {
  readonly rule: string;
  readonly impact: string;
  readonly help: string;
  readonly targets: readonly string[];
}

/**
 * Runs axe-core (WCAG 2.x A and AA rules) in the page and answers its serious and critical
 * violations. The pages' strict CSP refuses inline scripts, so the source goes in through the
 * DevTools protocol (page.evaluate), which CSP does not govern, rather than a <script> tag: the
 * page itself keeps running under the CSP it ships.
 */
export async function seriousAccessibilityProblems(page: Page): Promise<AccessibilityProblem[]> {
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(options: object): Promise<{ violations: { id: string; impact?: string | null; help: string; nodes: { target: unknown[] }[] }[] }> } }).axe;
    // Without a context, axe checks the whole document.
    const result = await axe.run({ runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] }, resultTypes: ['violations'] });
    return result.violations.map((violation) => ({ rule: violation.id, impact: violation.impact ?? 'unknown', help: violation.help, targets: violation.nodes.map((node) => node.target.join(' ')) }));
  });
  return violations.filter((violation) => violation.impact === 'serious' || violation.impact === 'critical');
}

/** Asserts that the page has no serious or critical accessibility problem, naming the page if it has. */
export async function expectAccessible(page: Page): Promise<void> {
  expect(await seriousAccessibilityProblems(page), page.url()).toEqual([]);
}
