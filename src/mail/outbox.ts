import { promises as fs } from 'node:fs';
import path from 'node:path';

import type { Kysely } from 'kysely';
import nodemailer from 'nodemailer';

import type { Config } from '../config/index.ts';
import { claimDueDeliveries, markDeliveryFailed } from '../db/queries/delivery-queues.ts';
import { markMailSent, type OutboxMail } from '../db/queries/mail-outbox.ts';
import type { Database } from '../db/schema.ts';
import { mailSecretSealLabel } from '../domain/account-tokens.ts';
import { unseal } from '../domain/sealed-box.ts';
import { deliverOneRound, doublingBackoff } from '../delivery-queue.ts';
import type { Logger } from '../logger.ts';
import { renderMail } from './templates.ts';

/**
 * Sends what the mail outbox holds. Mail is queued in the same transaction as the change that
 * causes it (an import, a reset request), so a rolled-back change sends nothing; this job sends it
 * afterwards, on any node, with retries and backoff, and never holds a transaction while it talks
 * to the relay.
 */
export interface MailSender {
  send(message: { from: string; to: string; subject: string; text: string; messageId: string }): Promise<void>;
}

/** SMTP through nodemailer; without SMTP_URL, each mail becomes an .eml file in DATA_DIR/mail (the development outbox). */
export function createMailSender(config: Pick<Config, 'smtpUrl' | 'dataDir'>, logger: Logger): MailSender {
  if (config.smtpUrl) {
    const transport = nodemailer.createTransport(config.smtpUrl);
    return {
      async send(message) {
        await transport.sendMail(message);
      },
    };
  }
  const directory = path.join(config.dataDir, 'mail');
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    async send(message) {
      const { message: raw } = await transport.sendMail(message) as { message: Buffer };
      await fs.mkdir(directory, { recursive: true, mode: 0o700 });
      const file = path.join(directory, `${new Date().toISOString().replace(/[:.]/g, '-')}-${message.messageId.replace(/[^\w.-]/g, '')}.eml`);
      await fs.writeFile(file, raw, { mode: 0o600 });
      // The file holds the link; the log says only where to find it.
      logger.info({ file, to: message.to }, 'mail written to the development outbox (SMTP_URL is unset)');
    },
  };
}

export interface MailDeliveryDeps {
  readonly db: Kysely<Database>;
  readonly sender: MailSender;
  readonly masterKey: Buffer;
  readonly issuer: string;
  readonly from: string;
  readonly logger: Logger;
}

/** A mail is tried this many times, backing off from 30 s to an hour, over about a day; then it stays, with its error, for an admin to see. */
export const maxMailAttempts = 12;
const limits = { batchSize: 20, leaseSeconds: 120, maxAttempts: maxMailAttempts };

/** Sends one batch of due mail; answers how many were sent and how many failed. */
export function deliverDueMail(deps: MailDeliveryDeps): Promise<{ sent: number; failed: number }> {
  return deliverOneRound<OutboxMail>({
    claim: () => claimDueDeliveries(deps.db, 'mail_outbox', limits),
    send: (mail) => deps.sender.send(compose(deps, mail)),
    markSent: (mail) => markMailSent(deps.db, mail.id),
    markFailed: (mail, error, retryAfterSeconds) => markDeliveryFailed(deps.db, 'mail_outbox', mail.id, error, retryAfterSeconds),
    backoffSeconds: doublingBackoff(30, 3600),
    maxAttempts: maxMailAttempts,
    onFailure: (mail, error) =>
      deps.logger.warn({ mailId: mail.id, template: mail.template, attempts: mail.attempts, err: error }, 'sending mail failed; it will be retried'),
  });
}

function compose(deps: MailDeliveryDeps, mail: OutboxMail) {
  const secret = mail.secret_sealed ? unseal(deps.masterKey, mailSecretSealLabel(mail.id), mail.secret_sealed) : null;
  const { subject, text } = renderMail(mail.template, mail.params, { issuer: deps.issuer, secret });
  return { from: deps.from, to: mail.recipient, subject, text, messageId: `<${mail.id}@mekong-id>` };
}
