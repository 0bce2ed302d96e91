import { promises as fs } from 'node:fs';
import path from 'node:path';

import Router from '@koa/router';

import { translator } from '../../i18n/catalog.ts';
import { pageContext } from '../page.ts';
import type { Views } from '../views.ts';

export interface DevOutboxDeps {
  readonly dataDir: string;
  readonly views: Views;
}

/** The newest messages shown; older files stay in DATA_DIR for whoever wants them. */
const shownMessages = 50;

interface OutboxEntry {
  readonly kind: 'mail' | 'sms';
  readonly file: string;
  readonly at: Date;
  readonly to: string;
  readonly subject: string | null;
  readonly text: string;
}

/**
 * /dev/outbox: the mail and text messages Mekong ID would have sent, when no SMTP relay or SMS
 * gateway is configured. A developer follows activation links and reads codes here. It shows
 * secrets, so the app mounts it only outside production (see http/app.ts).
 */
export function devOutboxRoutes(deps: DevOutboxDeps): Router {
  const router = new Router();
  router.get('/dev/outbox', async (ctx) => {
    const page = pageContext(ctx);
    const t = translator(page.locale);
    const entries = [...(await readMail(path.join(deps.dataDir, 'mail'))), ...(await readTextMessages(path.join(deps.dataDir, 'sms')))]
      .sort((a, b) => b.file.localeCompare(a.file))
      .slice(0, shownMessages);
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = deps.views.render('dev-outbox', page, { title: t('outbox.title'), entries, wide: true });
  });
  return router;
}

/** The newest files of a directory, by name (each starts with its ISO time); none when it does not exist yet. */
async function newestFiles(directory: string, extension: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(directory);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return names.filter((name) => name.endsWith(extension)).sort().reverse().slice(0, shownMessages);
}

async function readMail(directory: string): Promise<OutboxEntry[]> {
  return Promise.all((await newestFiles(directory, '.eml')).map(async (file) => {
    // Loaded here: the outbox is a development aid, and production never needs a mail parser.
    const { simpleParser } = await import('mailparser');
    const mail = await simpleParser(await fs.readFile(path.join(directory, file)));
    const to = Array.isArray(mail.to) ? mail.to.map((address) => address.text).join(', ') : (mail.to?.text ?? '');
    return { kind: 'mail' as const, file, at: mail.date ?? new Date(0), to, subject: mail.subject ?? null, text: mail.text ?? '' };
  }));
}

async function readTextMessages(directory: string): Promise<OutboxEntry[]> {
  return Promise.all((await newestFiles(directory, '.txt')).map(async (file) => {
    const [head = '', ...body] = (await fs.readFile(path.join(directory, file), 'utf8')).split('\n\n');
    const stat = await fs.stat(path.join(directory, file));
    return { kind: 'sms' as const, file, at: stat.mtime, to: head.replace(/^To: /, ''), subject: null, text: body.join('\n\n').trimEnd() };
  }));
}
