import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { insertOutboxMails } from '../../src/db/queries/mail-outbox.ts';
import { mailSecretSealLabel } from '../../src/domain/account-tokens.ts';
import { seal } from '../../src/domain/sealed-box.ts';
import { createLogger } from '../../src/logger.ts';
import { createMailSender, deliverDueMail, maxMailAttempts, type MailDeliveryDeps } from '../../src/mail/outbox.ts';
import { renderMail, UnknownMailTemplate } from '../../src/mail/templates.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { startMailCatcher, type MailCatcher } from '../support/mail-catcher.ts';

const masterKey = randomBytes(32);
const issuer = 'https://id.tiengiang.gov.vn';
const logger = createLogger('silent');

let database: TestDatabase;
let catcher: MailCatcher;
let deps: MailDeliveryDeps;

beforeAll(async () => {
  database = await createTestDatabase();
  catcher = await startMailCatcher();
  deps = {
    db: database.db, masterKey, issuer, from: 'Mekong ID <no-reply@tiengiang.gov.vn>', logger,
    sender: createMailSender({ smtpUrl: catcher.url, dataDir: os.tmpdir() }, logger),
  };
});

afterAll(async () => {
  await catcher.close();
  await database.close();
});

beforeEach(async () => {
  await database.db.deleteFrom('mail_outbox').execute();
});

async function queueActivation(recipient: string, token = randomBytes(32).toString('base64url')): Promise<string> {
  const id = randomUUID();
  await insertOutboxMails(database.db, [{
    id, recipient, template: 'activation',
    params: { user_id: randomUUID(), username: 'nguyenvana', full_name: 'Nguyễn Văn A', expires_at: '2026-12-03T02:00:00.000Z' },
    secret_sealed: seal(masterKey, mailSecretSealLabel(id), token),
  }]);
  return id;
}

const outboxRow = (id: string) => database.db.selectFrom('mail_outbox').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

describe('delivering the outbox over SMTP', () => {
  it('sends a queued mail with its link, then forgets the sealed secret', async () => {
    const token = randomBytes(32).toString('base64url');
    const id = await queueActivation('a@tiengiang.gov.vn', token);
    expect(await deliverDueMail(deps)).toEqual({ sent: 1, failed: 0 });
    const mail = await catcher.waitFor('a@tiengiang.gov.vn');
    expect(mail.text).toContain(`${issuer}/account/activate?token=${token}`);
    expect(mail.from?.text).toContain('no-reply@tiengiang.gov.vn');
    const row = await outboxRow(id);
    expect(row.sent_at).toBeInstanceOf(Date);
    expect(row.secret_sealed).toBeNull();
    expect(await deliverDueMail(deps)).toEqual({ sent: 0, failed: 0 });
  });

  it('keeps a refused mail with its error and retries it after a backoff', async () => {
    const id = await queueActivation('b@tiengiang.gov.vn');
    catcher.refuseNext(1);
    expect(await deliverDueMail(deps)).toEqual({ sent: 0, failed: 1 });
    const failed = await outboxRow(id);
    expect(failed).toMatchObject({ sent_at: null, attempts: 1 });
    expect(failed.last_error).toMatch(/451/);
    expect(failed.next_attempt_at.getTime()).toBeGreaterThan(Date.now() + 20_000);
    // Not due yet: nothing happens.
    expect(await deliverDueMail(deps)).toEqual({ sent: 0, failed: 0 });

    await database.db.updateTable('mail_outbox').set({ next_attempt_at: new Date(Date.now() - 1000) }).where('id', '=', id).execute();
    expect(await deliverDueMail(deps)).toEqual({ sent: 1, failed: 0 });
    expect(await outboxRow(id)).toMatchObject({ attempts: 2, last_error: null });
  });

  it('gives up after the last attempt and leaves the mail for an admin to see', async () => {
    const id = await queueActivation('c@tiengiang.gov.vn');
    await database.db.updateTable('mail_outbox').set({ attempts: maxMailAttempts }).where('id', '=', id).execute();
    expect(await deliverDueMail(deps)).toEqual({ sent: 0, failed: 0 });
    expect((await outboxRow(id)).sent_at).toBeNull();
  });

  it('sends each mail once when two nodes deliver at the same moment', async () => {
    const recipients = Array.from({ length: 30 }, (_, n) => `node${n}@tiengiang.gov.vn`);
    for (const recipient of recipients) await queueActivation(recipient);
    const before = catcher.received.length;
    const other = { ...deps };
    let sent = 0;
    for (let round = 0; round < 3; round += 1) {
      const results = await Promise.all([deliverDueMail(deps), deliverDueMail(other)]);
      sent += results.reduce((sum, result) => sum + result.sent, 0);
    }
    expect(sent).toBe(30);
    expect(catcher.received.length - before).toBe(30);
    for (const recipient of recipients) expect(catcher.to(recipient)).toHaveLength(1);
  });
});

describe('the development outbox', () => {
  it('writes each mail as an .eml file in DATA_DIR/mail when SMTP_URL is unset', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'mekong-mail-'));
    try {
      await queueActivation('d@tiengiang.gov.vn');
      expect(await deliverDueMail({ ...deps, sender: createMailSender({ smtpUrl: null, dataDir }, logger) })).toEqual({ sent: 1, failed: 0 });
      const [file] = await readdir(path.join(dataDir, 'mail'));
      expect(file).toMatch(/\.eml$/);
      const raw = await readFile(path.join(dataDir, 'mail', file!), 'utf8');
      expect(raw).toContain('To: d@tiengiang.gov.vn');
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('mail templates', () => {
  it('write Vietnamese first, then English, with the expiry in Vietnam time', () => {
    const mail = renderMail('password_reset', { full_name: 'Trần Thị Bé', username: 'tranthibe', expires_at: '2026-11-26T10:00:00.000Z' }, { issuer, secret: 'abc' });
    expect(mail.subject).toBe('Đặt lại mật khẩu Mekong ID / Reset your Mekong ID password');
    expect(mail.text.indexOf('Kính gửi Trần Thị Bé')).toBeLessThan(mail.text.indexOf('Dear Trần Thị Bé'));
    expect(mail.text).toContain(`${issuer}/account/reset?token=abc`);
    expect(mail.text).toContain('17:00');
  });

  it('refuse an unknown template, and a link mail without its secret', () => {
    expect(() => renderMail('toString', {}, { issuer, secret: null })).toThrow(UnknownMailTemplate);
    expect(() => renderMail('activation', {}, { issuer, secret: null })).toThrow(UnknownMailTemplate);
  });
});
