import { z } from 'zod';

import { clientScopes, type ClientRegistration } from '../../domain/clients.ts';
import { defaultSecretOverlapSeconds, maxSecretOverlapSeconds } from '../../domain/developer-apps.ts';
import { localizedIssueMessage } from '../../errors.ts';
import { isMessageKey, type Translate } from '../../i18n/catalog.ts';

/** The kinds a developer registers from the portal (a shared-screen device is registered by the IT centre). */
export const portalKinds = ['web', 'spa', 'native', 'service'] as const;

/** A textarea of URIs, one a line; blank lines are skipped. */
const lines = z.string().max(8000).default('').transform((value) => value.split(/\r?\n/).map((line) => line.trim()).filter(Boolean));
/** Checkboxes sharing a name: absent, one value, or several. */
const checkboxes = z.union([z.string().max(64), z.array(z.string().max(64)).max(20)]).optional().transform((value) => (value === undefined ? [] : [value].flat()));

export const appForm = z.object({
  name: z.string().max(200).default(''),
  logo_uri: z.string().trim().max(2000).default(''),
  kind: z.string().max(20).default('web'),
  redirect_uris: lines,
  post_logout_redirect_uris: lines,
  backchannel_logout_uri: z.string().trim().max(2000).default(''),
  refresh_token: z.string().max(10).optional(),
  scopes: checkboxes,
});
export type AppForm = z.output<typeof appForm>;

/** What the form shows when it first opens: a web app asking for the usual scopes. */
export const blankAppForm: AppForm = {
  name: '', logo_uri: '', kind: 'web', redirect_uris: [], post_logout_redirect_uris: [], backchannel_logout_uri: '', refresh_token: 'on', scopes: ['profile', 'email'],
};

/** The form as a registration: the kind's own grant (plus a refresh token if ticked), and openid with the scopes ticked. */
export function registrationOf(form: AppForm): ClientRegistration {
  const kind = (portalKinds as readonly string[]).includes(form.kind) ? (form.kind as (typeof portalKinds)[number]) : 'web';
  return {
    name: form.name,
    kind,
    redirectUris: form.redirect_uris,
    postLogoutRedirectUris: form.post_logout_redirect_uris,
    ...(form.backchannel_logout_uri ? { backchannelLogoutUri: form.backchannel_logout_uri } : {}),
    ...(form.logo_uri ? { logoUri: form.logo_uri } : {}),
    ...(kind === 'service' ? {} : { grantTypes: ['authorization_code', ...(form.refresh_token ? ['refresh_token'] : [])] }),
    scopes: ['openid', ...form.scopes.filter((scope) => scope !== 'openid')] as ClientRegistration['scopes'],
  };
}

/** Which form field each part of a registration comes from. */
const fieldOfPath: Readonly<Record<string, string>> = {
  name: 'name', kind: 'kind', logoUri: 'logo_uri', redirectUris: 'redirect_uris', postLogoutRedirectUris: 'post_logout_redirect_uris',
  backchannelLogoutUri: 'backchannel_logout_uri', grantTypes: 'refresh_token', scopes: 'scopes',
};

/**
 * The registration's problems by form field, in the page's language: the lint's problems carry
 * their catalog entries (domain/clients.ts, domain/resource-servers.ts), with the URI at fault;
 * zod's own by field have the field's entry. `fields` says which form field each part of the
 * input comes from. A problem with neither (none the form can cause) keeps its English sentence rather than vanish.
 */
export function registrationErrors(t: Translate, issues: readonly z.core.$ZodIssue[], fields: Readonly<Record<string, string>> = fieldOfPath): Record<string, string> {
  const errors: Record<string, string> = {};
  for (const issue of issues) {
    const field = fields[String(issue.path[0])] ?? '_form';
    const key = `developers.problem.${field}`;
    const message = localizedIssueMessage(t, issue) ?? (isMessageKey(key) ? t(key) : issue.message);
    // Every bad URI of a list is named, not only the first.
    errors[field] = errors[field] && !errors[field].includes(message) ? `${errors[field]} ${message}` : message;
  }
  return errors;
}

/** The overlap chosen on the rotation form, in hours (0 to 720), as seconds. */
export const rotationForm = z.object({
  overlap_hours: z.coerce.number().int().min(0).max(maxSecretOverlapSeconds / 3600).default(defaultSecretOverlapSeconds / 3600),
});

/** Roles, one a line: `name` or `name: description`. */
export const rolesForm = z.object({ roles: z.string().max(8000).default('') }).transform(({ roles }) => ({
  roles: roles.split(/\r?\n/).map((line) => line.trim()).filter(Boolean).map((line) => {
    const [name = '', ...description] = line.split(':');
    return { name: name.trim(), description: description.join(':').trim() || null };
  }),
}));

export const ownerForm = z.object({ username: z.string().trim().min(1).max(320) });

export { clientScopes };
