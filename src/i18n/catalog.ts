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
  'mail.greeting': 'Kính gửi {name},',
  'mail.signature': 'Mekong ID, hệ thống đăng nhập một lần của tỉnh',
  'mail.link_once': 'Liên kết chỉ dùng được một lần và hết hạn lúc {expires}.',
  'mail.not_you': 'Nếu không phải bạn thực hiện, hãy liên hệ ngay bộ phận hỗ trợ của đơn vị.',
  'mail.activation.subject': 'Kích hoạt tài khoản Mekong ID',
  'mail.activation.body': 'Một tài khoản Mekong ID đã được tạo cho bạn với tên đăng nhập {username}. Hãy mở liên kết dưới đây để đặt mật khẩu và kích hoạt tài khoản.',
  'mail.password_reset.subject': 'Đặt lại mật khẩu Mekong ID',
  'mail.password_reset.body': 'Có yêu cầu đặt lại mật khẩu cho tài khoản {username}. Hãy mở liên kết dưới đây để đặt mật khẩu mới. Liên kết dùng được một lần và hết hạn lúc {expires}.',
  'mail.password_reset.ignore': 'Nếu bạn không yêu cầu, hãy bỏ qua thư này: mật khẩu hiện tại không thay đổi.',
  'mail.factors_reset.subject': 'Xác minh hai bước của bạn đã được đặt lại',
  'mail.factors_reset.body': 'Bộ phận hỗ trợ đã xóa các phương thức xác minh hai bước và mã khôi phục của tài khoản {username}. Ở lần đăng nhập tới, bạn có thể cần thiết lập lại.',
  'mail.password_changed.subject': 'Mật khẩu Mekong ID của bạn đã được đổi',
  'mail.password_changed.body': 'Mật khẩu của tài khoản {username} vừa được đổi.',
  'login.forgot': 'Quên mật khẩu?',
  'forgot.title': 'Quên mật khẩu',
  'forgot.intro': 'Nhập tên đăng nhập hoặc email. Nếu tài khoản có địa chỉ email, chúng tôi sẽ gửi liên kết đặt lại mật khẩu.',
  'forgot.submit': 'Gửi liên kết',
  'forgot.sent': 'Nếu tên này thuộc về một tài khoản có email, một liên kết đặt lại mật khẩu vừa được gửi tới đó. Hãy kiểm tra hộp thư (cả thư rác). Nếu tài khoản không có email, hãy liên hệ bộ phận hỗ trợ của đơn vị.',
  'link.invalid': 'Liên kết không hợp lệ, đã được dùng hoặc đã hết hạn. Hãy yêu cầu một liên kết mới.',
  'activate.title': 'Kích hoạt tài khoản',
  'activate.done': 'Tài khoản đã được kích hoạt. Bây giờ bạn có thể đăng nhập vào các ứng dụng bằng mật khẩu vừa đặt.',
  'reset.title': 'Đặt lại mật khẩu',
  'reset.done': 'Mật khẩu đã được đổi, và mọi phiên đăng nhập cũ đã kết thúc. Hãy quay lại ứng dụng và đăng nhập bằng mật khẩu mới.',
  'password.for_account': 'Tài khoản: {username}',
  'password.new': 'Mật khẩu mới',
  'password.confirm': 'Nhập lại mật khẩu mới',
  'password.save': 'Lưu mật khẩu',
  'password.hint': 'Ít nhất {min} ký tự. Nên dùng một câu dễ nhớ; không cần ký tự đặc biệt.',
  'password.mismatch': 'Hai mật khẩu không giống nhau.',
  'password.problem.too_short': 'Mật khẩu cần ít nhất {min} ký tự.',
  'password.problem.too_long': 'Mật khẩu quá dài.',
  'password.problem.common': 'Đây là một trong những mật khẩu phổ biến nhất, kẻ tấn công sẽ thử đầu tiên.',
  'password.problem.repetitive': 'Mật khẩu không được chỉ lặp lại một hai ký tự.',
  'password.problem.personal': 'Mật khẩu phải khác tên, tên đăng nhập, email của bạn hoặc tên hệ thống (kể cả khi thêm chữ số).',
  'password.problem.same_as_current': 'Mật khẩu mới phải khác mật khẩu hiện tại.',
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
  'mail.greeting': 'Dear {name},',
  'mail.signature': "Mekong ID, the province's single sign-on",
  'mail.link_once': 'The link works once and expires at {expires}.',
  'mail.not_you': "If this was not you, contact your unit's helpdesk at once.",
  'mail.activation.subject': 'Activate your Mekong ID account',
  'mail.activation.body': 'A Mekong ID account was created for you with the username {username}. Open the link below to choose a password and activate it.',
  'mail.password_reset.subject': 'Reset your Mekong ID password',
  'mail.password_reset.body': 'Someone asked to reset the password of the account {username}. Open the link below to choose a new one. It works once and expires at {expires}.',
  'mail.password_reset.ignore': 'If you did not ask for this, ignore this mail: your password has not changed.',
  'mail.factors_reset.subject': 'Your two-step verification was reset',
  'mail.factors_reset.body': 'The helpdesk removed the two-step verification methods and recovery codes of the account {username}. You may need to set them up again at your next sign-in.',
  'mail.password_changed.subject': 'Your Mekong ID password was changed',
  'mail.password_changed.body': 'The password of the account {username} was just changed.',
  'login.forgot': 'Forgot your password?',
  'forgot.title': 'Forgot password',
  'forgot.intro': 'Enter your username or email. If the account has an email address, we will send a link to reset the password.',
  'forgot.submit': 'Send the link',
  'forgot.sent': "If this name belongs to an account with an email address, a reset link was just sent there. Check your inbox (and the spam folder). If the account has no email address, contact your unit's helpdesk.",
  'link.invalid': 'The link is not valid, was already used or has expired. Ask for a new one.',
  'activate.title': 'Activate your account',
  'activate.done': 'Your account is active. You can now sign in to the apps with the password you chose.',
  'reset.title': 'Reset your password',
  'reset.done': 'Your password was changed and every earlier sign-in session has ended. Go back to the app and sign in with the new password.',
  'password.for_account': 'Account: {username}',
  'password.new': 'New password',
  'password.confirm': 'New password again',
  'password.save': 'Save the password',
  'password.hint': 'At least {min} characters. A sentence you remember works well; no special characters are needed.',
  'password.mismatch': 'The two passwords differ.',
  'password.problem.too_short': 'A password needs at least {min} characters.',
  'password.problem.too_long': 'The password is too long.',
  'password.problem.common': 'This is one of the most common passwords, the first an attacker tries.',
  'password.problem.repetitive': 'A password must be more than one or two characters repeated.',
  'password.problem.personal': 'The password must be more than your name, username or email, or the name of the service (even with digits added).',
  'password.problem.same_as_current': 'The new password must differ from the current one.',
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
