import type { AddressInfo } from 'node:net';

import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

/**
 * A real SMTP server on loopback that keeps what it receives, so tests see the mail exactly as a
 * relay would get it from nodemailer. `refuseNext` makes it answer the next deliveries with a 451.
 */
export interface MailCatcher {
  readonly url: string;
  readonly received: ParsedMail[];
  refuseNext(count: number): void;
  /** The first mail to `to` (after `after` of them), waiting for it up to `timeoutMs`. */
  waitFor(to: string, options?: { after?: number; timeoutMs?: number }): Promise<ParsedMail>;
  to(address: string): ParsedMail[];
  close(): Promise<void>;
}

export async function startMailCatcher(): Promise<MailCatcher> {
  const received: ParsedMail[] = [];
  let refusals = 0;
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS', 'AUTH'],
    authOptional: true,
    logger: false,
    onData(stream, _session, callback) {
      if (refusals > 0) {
        refusals -= 1;
        stream.resume();
        stream.on('end', () => callback(Object.assign(new Error('mailbox busy, try again later'), { responseCode: 451 })));
        return;
      }
      simpleParser(stream).then((mail) => {
        received.push(mail);
        callback();
      }, callback);
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  const to = (address: string) => received.filter((mail) => addressesOf(mail).includes(address.toLowerCase()));
  return {
    url: `smtp://127.0.0.1:${port}`,
    received,
    refuseNext(count) {
      refusals = count;
    },
    to,
    async waitFor(address, options = {}) {
      const deadline = Date.now() + (options.timeoutMs ?? 10_000);
      for (;;) {
        const mail = to(address)[options.after ?? 0];
        if (mail) return mail;
        if (Date.now() > deadline) throw new Error(`no mail to ${address} within the time allowed`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function addressesOf(mail: ParsedMail): string[] {
  const groups = Array.isArray(mail.to) ? mail.to : mail.to ? [mail.to] : [];
  return groups.flatMap((group) => group.value.map((entry) => (entry.address ?? '').toLowerCase()));
}

/** The link in a mail's text that starts with `prefix`. */
export function linkIn(mail: ParsedMail, prefix: string): URL {
  const link = (mail.text ?? '').split(/\s+/).find((word) => word.startsWith(prefix));
  if (!link) throw new Error(`no link starting with ${prefix} in the mail "${mail.subject ?? ''}"`);
  return new URL(link);
}
