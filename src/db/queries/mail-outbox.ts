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

/**
 * Takes up to `limit` due mails for sending: their next attempt moves `leaseSeconds` ahead and
 * their attempt count up, in one statement that skips rows another node is taking at the same
 * moment. A node that dies mid-send leaves the mail to be retried when the lease runs out.
 */
export async function claimDueMails(db: Kysely<Database>, limit: number, leaseSeconds: number, maxAttempts: number): Promise<OutboxMail[]> {
  const { rows } = await sql<OutboxMail>`
    update mail_outbox set attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => ${leaseSeconds})
    where id in (
      select id from mail_outbox
      where sent_at is null and next_attempt_at <= now() and attempts < ${maxAttempts}
      order by next_attempt_at
      limit ${limit}
      for update skip locked
    )
    returning *`.execute(db);
  return rows;
}

/** Sent: the sealed secret is no longer needed and goes. */
export async function markMailSent(db: Kysely<Database>, id: string): Promise<void> {
  await db.updateTable('mail_outbox').set({ sent_at: sql<Date>`now()`, secret_sealed: null, last_error: null }).where('id', '=', id).execute();
}

export async function markMailFailed(db: Kysely<Database>, id: string, error: string, retryAfterSeconds: number): Promise<void> {
  await db
    .updateTable('mail_outbox')
    .set({ last_error: error.slice(0, 1000), next_attempt_at: sql<Date>`now() + make_interval(secs => ${retryAfterSeconds})` })
    .where('id', '=', id)
    .execute();
}
