import { describe, expect, it } from 'vitest';

import { passwordProblems } from '../../src/domain/password-policy.ts';

const policy = { minLength: 10 };
const hoa = { username: 'hoant', fullName: 'Nguyễn Thị Hoa', email: 'hoa.nguyen@tiengiang.example' };

describe('passwordProblems', () => {
  it('accepts a long passphrase with no composition rules at all', () => {
    expect(passwordProblems('ba con mèo đi chợ sáng nay', hoa, policy)).toEqual([]);
    expect(passwordProblems('correcthorsebatterystaple', hoa, policy)).toEqual([]);
  });

  it('refuses a password shorter than the configured minimum, counting Vietnamese letters as one character each', () => {
    expect(passwordProblems('mèo đen 12', hoa, { minLength: 12 })).toEqual(['a password needs at least 12 characters']);
    // Ten letters, each written decomposed (base letter and marks): still ten characters.
    expect(passwordProblems('ắềỉọụứỳđơư'.normalize('NFD'), hoa, policy)).toEqual([]);
  });

  it('refuses one longer than 256 characters', () => {
    expect(passwordProblems('a long sentence '.repeat(20), hoa, policy)).toEqual(['a password can have at most 256 characters']);
  });

  it('refuses the common passwords attackers try first, whatever the case', () => {
    for (const common of ['1234567890', 'qwertyuiop', 'Password123', 'iloveyou12']) {
      expect(passwordProblems(common, hoa, policy), common).toContain('this is one of the most common passwords, the first an attacker tries');
    }
  });

  it('refuses the person\'s own name, username or email with digits added, compared without diacritics', () => {
    const tooPersonal = 'a password must be more than your name, username or email, or the name of the service, with digits added';
    for (const personal of ['NguyenThiHoa1990', 'nguyễn thị hoa 2026', 'hoant@123456', 'hoa.nguyen2026']) {
      expect(passwordProblems(personal, hoa, policy), personal).toContain(tooPersonal);
    }
  });

  it('refuses the service\'s own name with digits added', () => {
    expect(passwordProblems('MekongID@2026', hoa, policy)).toContain(
      'a password must be more than your name, username or email, or the name of the service, with digits added',
    );
  });

  it('refuses one or two characters over and over', () => {
    expect(passwordProblems('ababababababab', hoa, policy)).toContain('a password needs more than one or two characters repeated');
  });

  it('accepts a password that merely contains a name among other words', () => {
    expect(passwordProblems('hoa nở trên sông Tiền mùa nước nổi', hoa, policy)).toEqual([]);
  });
});
