import { sql, type Kysely, type Selectable } from 'kysely';

import type { Database, MailOutboxTable } from '../schema.ts';

export interface NewOutboxMail {
  /** Chosen by the caller, because a sealed secret is bound to the id of the mail that carries it. */
  readonly id: string;
  readonly recipient: string;
  readonly template: string;
  readonly params: Record<string, unknown>;
  readonly secret_sealed: string | null;
}

/** Many mails in one statement (arrays through unnest, a bulk import queues thousands). */
export async function insertOutboxMails(trx: Kysely<Database>, mails: readonly NewOutboxMail[]): Promise<void> {
  if (mails.length === 0) return;
  await sql`insert into mail_outbox (id, recipient, template, params, secret_sealed)
    select * from unnest(
      ${mails.map((mail) => mail.id)}::uuid[], ${mails.map((mail) => mail.recipient)}::text[], ${mails.map((mail) => mail.template)}::text[],
      ${mails.map((mail) => JSON.stringify(mail.params))}::jsonb[], ${mails.map((mail) => mail.secret_sealed)}::text[]
    )`.execute(trx);
}

export type OutboxMail = Selectable<MailOutboxTable>;

/** Sent: the sealed secret is no longer needed and goes, in the same statement. */
export async function markMailSent(db: Kysely<Database>, id: string): Promise<void> {
  await db.updateTable('mail_outbox').set({ sent_at: sql<Date>`now()`, secret_sealed: null, last_error: null }).where('id', '=', id).execute();
}
