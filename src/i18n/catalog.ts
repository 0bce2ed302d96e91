/**
 * Every string a person reads, Vietnamese first. The English catalog must have exactly the same keys:
 * the type below makes a missing translation a compile error.
 */
const vi = {
  'app.name': 'Mekong ID',
  'app.tagline': 'Đăng nhập một lần cho các hệ thống dùng chung của tỉnh',
  'lang.switch': 'English',
  'login.title': 'Đăng nhập',
  'login.to_app': 'để tiếp tục vào {app}',
  'login.login': 'Tên đăng nhập hoặc email',
  'login.password': 'Mật khẩu',
  'login.submit': 'Đăng nhập',
  'login.cancel': 'Hủy',
  'login.invalid': 'Tên đăng nhập hoặc mật khẩu không đúng.',
  'login.missing': 'Hãy nhập tên đăng nhập và mật khẩu.',
  'login.throttled': 'Đã nhập sai nhiều lần. Hãy thử lại sau {seconds} giây.',
  'login.locked': 'Tên đăng nhập này tạm thời bị khóa vì nhập sai quá nhiều lần. Hãy thử lại sau khoảng {minutes} phút, hoặc liên hệ bộ phận hỗ trợ để mở khóa.',
  'login.inactive.pending_activation': 'Tài khoản chưa được kích hoạt. Hãy liên hệ quản trị viên đơn vị.',
  'login.inactive.suspended': 'Tài khoản đang bị tạm khóa. Hãy liên hệ quản trị viên đơn vị.',
  'login.inactive.disabled': 'Tài khoản đã bị vô hiệu hóa. Hãy liên hệ quản trị viên đơn vị.',
  'mfa.title': 'Xác minh hai bước',
  'mfa.intro': 'Xin chào {user}. Hãy nhập mã 6 chữ số trong ứng dụng xác thực trên điện thoại của bạn.',
  'mfa.code': 'Mã xác thực',
  'mfa.submit': 'Xác minh',
  'mfa.use_recovery': 'Dùng mã khôi phục',
  'mfa.use_totp': 'Dùng ứng dụng xác thực',
  'mfa.recovery_intro': 'Nhập một trong các mã khôi phục bạn đã lưu. Mỗi mã chỉ dùng được một lần.',
  'mfa.recovery_code': 'Mã khôi phục',
  'mfa.invalid_code': 'Mã không đúng hoặc đã được dùng. Hãy chờ mã mới và thử lại.',
  'mfa.invalid_recovery_code': 'Mã khôi phục không đúng hoặc đã được dùng.',
  'mfa.too_many': 'Đã nhập sai mã quá nhiều lần. Hãy đăng nhập lại.',
  'mfa.enrol.title': 'Thiết lập xác minh hai bước',
  'mfa.enrol.required': 'Tài khoản của bạn cần xác minh hai bước. Hãy thiết lập ứng dụng xác thực để tiếp tục.',
  'mfa.enrol.step1': 'Mở ứng dụng xác thực (Google Authenticator, Microsoft Authenticator…) và quét mã QR này.',
  'mfa.enrol.manual': 'Không quét được? Nhập khóa này vào ứng dụng:',
  'mfa.enrol.qr_alt': 'Mã QR để thêm tài khoản vào ứng dụng xác thực',
  'mfa.enrol.step2': 'Nhập mã 6 chữ số mà ứng dụng hiển thị:',
  'mfa.enrol.submit': 'Xác nhận',
  'mfa.recovery.title': 'Mã khôi phục',
  'mfa.recovery.intro': 'Hãy in hoặc chép lại các mã này và cất ở nơi an toàn. Khi mất điện thoại, mỗi mã cho phép đăng nhập một lần. Các mã chỉ hiển thị lần này.',
  'mfa.recovery.none': 'Các mã khôi phục đã được hiển thị. Bạn có thể tạo mã mới trong trang tài khoản.',
  'mfa.recovery.continue': 'Tôi đã lưu các mã, tiếp tục',
  'consent.title': 'Cấp quyền truy cập',
  'consent.intro': '{app} muốn:',
  'consent.allow': 'Cho phép',
  'consent.deny': 'Từ chối',
  'consent.signed_in_as': 'Bạn đang đăng nhập với tài khoản {user}.',
  'scope.openid': 'Xác nhận danh tính của bạn',
  'scope.profile': 'Xem họ tên và tên đăng nhập của bạn',
  'scope.email': 'Xem địa chỉ email của bạn',
  'scope.phone': 'Xem số điện thoại của bạn',
  'scope.offline_access': 'Duy trì truy cập khi bạn không trực tuyến',
  'scope.other': 'Quyền “{scope}”',
  'logout.title': 'Đăng xuất',
  'logout.question': 'Bạn có muốn đăng xuất khỏi Mekong ID và mọi ứng dụng đã đăng nhập không?',
  'logout.yes': 'Đăng xuất khỏi mọi ứng dụng',
  'logout.no': 'Chỉ đăng xuất khỏi ứng dụng này',
  'logout.done.title': 'Đã đăng xuất',
  'logout.done.body': 'Bạn đã đăng xuất khỏi Mekong ID.',
  'error.title': 'Đã xảy ra lỗi',
  'error.body': 'Yêu cầu không thể thực hiện. Hãy quay lại ứng dụng và thử lại.',
  'error.server': 'Hệ thống gặp sự cố. Hãy thử lại sau ít phút.',
  'error.not_found': 'Không tìm thấy trang này.',
  'error.csrf': 'Biểu mẫu đã hết hạn hoặc không hợp lệ. Hãy tải lại trang và thử lại.',
  'error.session_expired': 'Phiên đăng nhập đã hết hạn. Hãy quay lại ứng dụng và bắt đầu lại.',
  'error.busy': 'Hệ thống đang bận. Hãy thử lại sau vài giây.',
  'error.code': 'Mã lỗi',
  'error.detail': 'Chi tiết kỹ thuật',
  'error.request_id': 'Mã yêu cầu',
} as const;

export type MessageKey = keyof typeof vi;

const en: Record<MessageKey, string> = {
  'app.name': 'Mekong ID',
  'app.tagline': 'One sign-in for the province\u2019s shared systems',
  'lang.switch': 'Tiếng Việt',
  'login.title': 'Sign in',
  'login.to_app': 'to continue to {app}',
  'login.login': 'Username or email',
  'login.password': 'Password',
  'login.submit': 'Sign in',
  'login.cancel': 'Cancel',
  'login.invalid': 'The username or password is not correct.',
  'login.missing': 'Enter your username and password.',
  'login.throttled': 'Too many wrong attempts. Try again in {seconds} seconds.',
  'login.locked': 'This username is locked for a while after too many wrong attempts. Try again in about {minutes} minutes, or ask the helpdesk to unlock it.',
  'login.inactive.pending_activation': 'This account has not been activated yet. Contact your unit\u2019s administrator.',
  'login.inactive.suspended': 'This account is suspended. Contact your unit\u2019s administrator.',
  'login.inactive.disabled': 'This account is disabled. Contact your unit\u2019s administrator.',
  'mfa.title': 'Two-step verification',
  'mfa.intro': 'Hello {user}. Enter the 6-digit code from the authenticator app on your phone.',
  'mfa.code': 'Verification code',
  'mfa.submit': 'Verify',
  'mfa.use_recovery': 'Use a recovery code',
  'mfa.use_totp': 'Use the authenticator app',
  'mfa.recovery_intro': 'Enter one of the recovery codes you saved. Each code works once.',
  'mfa.recovery_code': 'Recovery code',
  'mfa.invalid_code': 'The code is wrong or was already used. Wait for a new code and try again.',
  'mfa.invalid_recovery_code': 'The recovery code is wrong or was already used.',
  'mfa.too_many': 'Too many wrong codes. Please sign in again.',
  'mfa.enrol.title': 'Set up two-step verification',
  'mfa.enrol.required': 'Your account needs two-step verification. Set up an authenticator app to continue.',
  'mfa.enrol.step1': 'Open an authenticator app (Google Authenticator, Microsoft Authenticator…) and scan this QR code.',
  'mfa.enrol.manual': 'Cannot scan it? Enter this key in the app:',
  'mfa.enrol.qr_alt': 'QR code to add the account to an authenticator app',
  'mfa.enrol.step2': 'Enter the 6-digit code the app shows:',
  'mfa.enrol.submit': 'Confirm',
  'mfa.recovery.title': 'Recovery codes',
  'mfa.recovery.intro': 'Print or copy these codes and keep them somewhere safe. If you lose your phone, each code signs you in once. They are shown only this once.',
  'mfa.recovery.none': 'The recovery codes were already shown. You can make new ones on your account page.',
  'mfa.recovery.continue': 'I have saved the codes, continue',
  'consent.title': 'Allow access',
  'consent.intro': '{app} would like to:',
  'consent.allow': 'Allow',
  'consent.deny': 'Deny',
  'consent.signed_in_as': 'You are signed in as {user}.',
  'scope.openid': 'Confirm who you are',
  'scope.profile': 'See your name and username',
  'scope.email': 'See your email address',
  'scope.phone': 'See your phone number',
  'scope.offline_access': 'Keep access while you are offline',
  'scope.other': 'The \u201c{scope}\u201d permission',
  'logout.title': 'Sign out',
  'logout.question': 'Do you want to sign out of Mekong ID and every app you are signed in to?',
  'logout.yes': 'Sign out everywhere',
  'logout.no': 'Sign out of this app only',
  'logout.done.title': 'Signed out',
  'logout.done.body': 'You have signed out of Mekong ID.',
  'error.title': 'Something went wrong',
  'error.body': 'The request could not be completed. Go back to the app and try again.',
  'error.server': 'The service had a problem. Try again in a few minutes.',
  'error.not_found': 'This page does not exist.',
  'error.csrf': 'The form has expired or is not valid. Reload the page and try again.',
  'error.session_expired': 'The sign-in has expired. Go back to the app and start again.',
  'error.busy': 'The service is busy. Try again in a few seconds.',
  'error.code': 'Error code',
  'error.detail': 'Technical detail',
  'error.request_id': 'Request id',
};

export const locales = ['vi', 'en'] as const;
export type Locale = (typeof locales)[number];
export const defaultLocale: Locale = 'vi';

const catalogs: Record<Locale, Record<MessageKey, string>> = { vi, en };

export type Translate = (key: MessageKey, params?: Record<string, string>) => string;

export function translator(locale: Locale): Translate {
  const catalog = catalogs[locale];
  return (key, params) =>
    catalog[key].replace(/\{(\w+)\}/g, (whole, name: string) => params?.[name] ?? whole);
}

export function isLocale(value: unknown): value is Locale {
  return typeof value === 'string' && (locales as readonly string[]).includes(value);
}

export function isMessageKey(value: string): value is MessageKey {
  return Object.hasOwn(vi, value);
}

/**
 * The language of a page: the person's own choice (the switch, kept in a cookie) first, since they
 * made it on this very page; then what the app asked for (`ui_locales`, a space-separated
 * preference list); then the browser's Accept-Language; then Vietnamese.
 */
export function negotiateLocale(sources: {
  uiLocales?: string | undefined;
  cookie?: string | undefined;
  acceptLanguage?: string | undefined;
}): Locale {
  if (isLocale(sources.cookie)) return sources.cookie;
  const requested = sources.uiLocales?.split(/\s+/).map(primaryTag).find(isLocale);
  if (requested) return requested;
  const accepted = (sources.acceptLanguage ?? '')
    .split(',')
    .map((part) => {
      const [tag = '', ...parameters] = part.trim().split(';');
      const q = parameters.map((p) => /^\s*q=([\d.]+)/.exec(p)?.[1]).find(Boolean);
      return { tag: primaryTag(tag), q: q === undefined ? 1 : Number(q) };
    })
    .filter((entry) => entry.q > 0)
    .sort((a, b) => b.q - a.q)
    .map((entry) => entry.tag)
    .find(isLocale);
  return accepted ?? defaultLocale;
}

const primaryTag = (tag: string) => tag.trim().toLowerCase().split('-')[0];
