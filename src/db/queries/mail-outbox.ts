import type { Kysely } from 'kysely';

import type { Database } from '../schema.ts';

export interface NewOutboxMail {
  /** Chosen by the caller, because a sealed secret is bound to the id of the mail that carries it. */
  readonly id: string;
  readonly recipient: string;
  readonly template: string;
  readonly params: Record<string, unknown>;
  readonly secret_sealed: string | null;
}

export async function insertOutboxMails(trx: Kysely<Database>, mails: readonly NewOutboxMail[]): Promise<void> {
  if (mails.length === 0) return;
  await trx.insertInto('mail_outbox').values(mails.map((mail) => ({ ...mail }))).execute();
}
