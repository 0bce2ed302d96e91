import fs from 'node:fs';
import os from 'node:os';

import { sql, type Kysely } from 'kysely';

import { insertOrgUnit } from '../src/db/queries/org-units.ts';
import type { Database, NewUser, OrgUnit } from '../src/db/schema.ts';
import { buildDemoTree, generateDemoPeople, parseDemoOrgUnits, type DemoPerson, type DemoUnit } from '../src/domain/demo-province.ts';
import { demoOrgUnitsFile } from '../src/domain/demo-seed.ts';

/**
 * The bench's data: the demo province's org tree and its people, drawn from the demo generator
 * (realistic Vietnamese names with their real frequencies, so "nguyen van" matches what it would in
 * the province). The generator is deterministic and its first n people are the n of any larger
 * count, so the database can grow in steps and an import file can hold the people who come next.
 *
 * Bulk people go straight into the users table in large multi-row inserts, without argon2 and
 * without the audit log: that is the point of a fast generator, and why this file, a tool outside
 * the product, writes to the table itself. The product's own paths are what the scenarios measure.
 */

/** People who can sign in: the first of the generated ones, given real argon2id hashes. */
export const knownUserCount = 16;
export const knownUserPassword = 'mật khẩu đo tải Mỹ Tho 2026';

/** 2,000 rows of 11 columns stay well under PostgreSQL's 65,535 bind parameters per statement. */
const rowsPerInsert = 2_000;
const insertStreams = os.availableParallelism();

export interface KnownUser {
  readonly login: string;
  readonly password: string;
}

export interface Population {
  readonly knownUsers: readonly KnownUser[];
  /** People the generator has handed out so far: in the database, or in an import file. */
  readonly handedOut: number;
  /** Inserts generated people until `total` have been handed out; answers how long it took. */
  growTo(total: number): Promise<number>;
  /** The next `count` generated people, kept out of the database: new hires for an HR file. */
  takeNewHires(count: number): DemoPerson[];
}

export interface PopulationDeps {
  readonly db: Kysely<Database>;
  /** argon2id with the server's parameters, for the known users only. */
  readonly hashPassword: (password: string) => Promise<string>;
}

export async function seedPopulation(deps: PopulationDeps): Promise<Population> {
  const tree = buildDemoTree(parseDemoOrgUnits(fs.readFileSync(demoOrgUnitsFile, 'utf8')));
  const unitIds = await insertTree(deps.db, tree);
  const knownHashes = await Promise.all(Array.from({ length: knownUserCount }, () => deps.hashPassword(knownUserPassword)));
  let handedOut = 0;
  let knownUsers: KnownUser[] = [];
  return {
    get knownUsers() {
      return knownUsers;
    },
    get handedOut() {
      return handedOut;
    },
    async growTo(total) {
      const started = performance.now();
      if (total <= handedOut) return 0;
      const people = generateDemoPeople(tree, total);
      let next = handedOut;
      // PostgreSQL computes the generated search and sort keys (regular expressions) and the trigram
      // index per row: that is the cost, and one stream per core spreads it over every core.
      await Promise.all(Array.from({ length: insertStreams }, async () => {
        for (let from = next; from < total; from = next) {
          next = Math.min(total, from + rowsPerInsert);
          const rows = people.slice(from, next).map((person, offset) => userRow(person, unitIds, knownHashes[from + offset] ?? null));
          await deps.db.insertInto('users').values(rows).execute();
        }
      }));
      if (knownUsers.length < knownUserCount) {
        knownUsers = people.slice(0, knownUserCount).map((person) => ({ login: person.username, password: knownUserPassword }));
      }
      handedOut = total;
      // Fresh statistics and visibility, so the planner sees the table as it now is and index-only
      // scans need not visit the rows, as autovacuum would soon make it.
      await sql`vacuum analyze users`.execute(deps.db);
      return (performance.now() - started) / 1000;
    },
    takeNewHires(count) {
      const people = generateDemoPeople(tree, handedOut + count).slice(handedOut);
      handedOut += count;
      return people;
    },
  };
}

/** Parents come before their children in the demo tree, so one pass inserts it. */
async function insertTree(db: Kysely<Database>, tree: readonly DemoUnit[]): Promise<Map<string, OrgUnit>> {
  const units = new Map<string, OrgUnit>();
  await db.transaction().execute(async (trx) => {
    for (const { code, parentCode, kind, name } of tree) {
      const parent = parentCode === null ? null : units.get(parentCode);
      if (parent === undefined) throw new Error(`the demo tree names ${code}'s parent ${parentCode ?? ''} before it exists`);
      units.set(code, await insertOrgUnit(trx, { code, name, kind, parent }));
    }
  });
  return units;
}

function userRow(person: DemoPerson, units: ReadonlyMap<string, OrgUnit>, passwordHash: string | null): NewUser {
  return {
    username: person.username,
    full_name: person.fullName,
    email: person.email,
    phone: internationalMobile(person.phone),
    employee_code: person.employeeCode,
    national_id: person.nationalId,
    position: person.position,
    primary_org_unit_id: units.get(person.orgUnitCode)!.id,
    password_hash: passwordHash,
    status: 'active',
  };
}

/**
 * "0912 345 678" as the import would store it, +84912345678. The generator only makes Vietnamese
 * mobile numbers, so this is all libphonenumber would do here, a million times faster.
 */
export function internationalMobile(national: string): string {
  return `+84${national.replace(/\s/g, '').slice(1)}`;
}
