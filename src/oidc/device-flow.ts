import type Provider from 'oidc-provider';
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

/**
 * oidc-provider 9.13 fails with a 500 when a device page errs in a browser without a sign-in
 * session: a code form posted after the session went (or by a script), a stale /device/:uid link.
 * Its error handler gives the new, never-saved session a CSRF token for the code page and then
 * tries to re-save it ("persist can only be called on previously persisted Sessions"). Such a
 * request can only end in "start again", so it is sent to the code page to do just that.
 */
export function installDeviceSessionGuard(provider: Provider): void {
  const deviceRoutes = new Set(['code_verification', 'device_resume']);
  provider.use(async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      const oidc = (ctx as KoaContextWithOIDC).oidc as KoaContextWithOIDC['oidc'] | undefined;
      const unsavedSession = error instanceof TypeError && error.message.includes('previously persisted Sessions');
      if (!(unsavedSession && oidc && deviceRoutes.has(oidc.route))) throw error;
      ctx.status = 303;
      ctx.redirect(oidc.urlFor('code_verification'));
    }
  });
}
