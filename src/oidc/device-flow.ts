import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';

import type { DeviceCodeProblem, ProviderPages } from './provider.ts';

type DeviceFlowHooks = Pick<NonNullable<NonNullable<Configuration['features']>['deviceFlow']>, 'userCodeInputSource' | 'userCodeConfirmSource' | 'successSource'>;

/** oidc-provider's reasons to show the code page again, by the name of the error it raises. */
const problems: Record<string, DeviceCodeProblem> = {
  NoCodeError: 'missing',
  NotFoundError: 'not_found',
  ExpiredError: 'expired',
  AlreadyUsedError: 'used',
  AbortedError: 'aborted',
};

/**
 * The device flow's pages (RFC 8628 §3.3), drawn by Mekong ID instead of oidc-provider's: it hands
 * over ready-made form HTML with an inline event handler, which the strict CSP would block. The
 * pages build their own forms from what that HTML carries: the action, oidc-provider's CSRF token
 * for the device pages (the secret it keeps in the session's state), and the code typed so far.
 */
export function deviceFlowPages(pages: ProviderPages): DeviceFlowHooks {
  const xsrfOf = (ctx: KoaContextWithOIDC) => {
    const secret = (ctx.oidc.session?.state as { secret?: unknown } | undefined)?.secret;
    return typeof secret === 'string' ? secret : '';
  };
  const action = (ctx: KoaContextWithOIDC) => ctx.oidc.urlFor('code_verification');
  return {
    userCodeInputSource(ctx, _form, _out, error) {
      const problem = error ? (problems[error.name] ?? 'failed') : null;
      const typed = error && 'userCode' in error && typeof error.userCode === 'string' ? error.userCode : null;
      pages.deviceCodeInput(ctx, { action: action(ctx), xsrf: xsrfOf(ctx), userCode: typed }, problem);
    },
    userCodeConfirmSource(ctx, _form, client, _deviceInfo, userCode) {
      pages.deviceCodeConfirm(ctx, { action: action(ctx), xsrf: xsrfOf(ctx), userCode }, client.clientName ?? client.clientId);
    },
    successSource(ctx) {
      const client = ctx.oidc.client;
      pages.deviceDone(ctx, client?.clientName ?? client?.clientId ?? '');
    },
  };
}
