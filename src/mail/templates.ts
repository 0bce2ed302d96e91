import { formatDateTime, translator, type MessageKey } from '../i18n/catalog.ts';

/**
 * The mails Mekong ID sends, as plain text: Vietnamese first, then English, since we do not know
 * which the person reads. Plain text cannot carry markup from a name into the mail, and shows the
 * link as it is, so people can see where it goes.
 */
export interface RenderedMail {
  readonly subject: string;
  readonly text: string;
}

export interface MailContext {
  readonly issuer: string;
  /** The secret the mail carries (a link's token), unsealed just before sending. */
  readonly secret: string | null;
}

interface TemplateSpec {
  readonly subject: MessageKey;
  readonly body: MessageKey;
  /** Where the link goes, when the mail carries one. */
  readonly link?: (issuer: string, secret: string) => string;
  readonly footer?: MessageKey;
}

const templates: Record<string, TemplateSpec> = {
  activation: {
    subject: 'mail.activation.subject',
    body: 'mail.activation.body',
    link: (issuer, token) => `${issuer}/account/activate?token=${encodeURIComponent(token)}`,
    footer: 'mail.link_once',
  },
  password_reset: {
    subject: 'mail.password_reset.subject',
    body: 'mail.password_reset.body',
    link: (issuer, token) => `${issuer}/account/reset?token=${encodeURIComponent(token)}`,
    footer: 'mail.password_reset.ignore',
  },
  email_change: {
    subject: 'mail.email_change.subject',
    body: 'mail.email_change.body',
    link: (issuer, token) => `${issuer}/account/email/confirm?token=${encodeURIComponent(token)}`,
    footer: 'mail.email_change.ignore',
  },
  email_change_notice: { subject: 'mail.email_change_notice.subject', body: 'mail.email_change_notice.body', footer: 'mail.not_you' },
  factors_reset: { subject: 'mail.factors_reset.subject', body: 'mail.factors_reset.body', footer: 'mail.not_you' },
  password_changed: { subject: 'mail.password_changed.subject', body: 'mail.password_changed.body', footer: 'mail.not_you' },
  access_review_reminder: { subject: 'mail.access_review.subject', body: 'mail.access_review.body' },
  inactivity_warning: { subject: 'mail.inactivity_warning.subject', body: 'mail.inactivity_warning.body' },
  inactivity_reminder: { subject: 'mail.inactivity_warning.subject', body: 'mail.inactivity_reminder.body' },
};

export class UnknownMailTemplate extends Error {
  override name = 'UnknownMailTemplate';
}

const textParam = (params: Record<string, unknown>, name: string) => (typeof params[name] === 'string' ? params[name] : '');

export function renderMail(template: string, params: Record<string, unknown>, context: MailContext): RenderedMail {
  const spec = Object.hasOwn(templates, template) ? templates[template] : undefined;
  if (!spec) throw new UnknownMailTemplate(`no mail template named "${template}"`);
  if (spec.link && !context.secret) throw new UnknownMailTemplate(`the "${template}" mail needs its link's secret`);
  const link = spec.link && context.secret ? spec.link(context.issuer, context.secret) : null;
  const expiresAt = typeof params['expires_at'] === 'string' ? new Date(params['expires_at']) : null;
  const dueAt = typeof params['due_at'] === 'string' ? new Date(params['due_at']) : null;

  const part = (locale: 'vi' | 'en') => {
    const t = translator(locale);
    const values = {
      name: textParam(params, 'full_name'),
      username: textParam(params, 'username'),
      email: textParam(params, 'new_email'),
      expires: expiresAt ? `${formatDateTime(locale, expiresAt)} (GMT+7)` : '',
      review: textParam(params, 'review_name'),
      items: textParam(params, 'items'),
      due: dueAt ? `${formatDateTime(locale, dueAt)} (GMT+7)` : '',
      reviews: `${context.issuer}/admin/reviews`,
    };
    return [
      t('mail.greeting', values),
      '',
      t(spec.body, values),
      ...(link ? ['', link] : []),
      ...(spec.footer ? ['', t(spec.footer, values)] : []),
      '',
      t('mail.signature'),
    ].join('\n');
  };
  return {
    subject: `${translator('vi')(spec.subject)} / ${translator('en')(spec.subject)}`,
    text: `${part('vi')}\n\n-----\n\n${part('en')}\n`,
  };
}
