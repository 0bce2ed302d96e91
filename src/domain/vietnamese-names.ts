/**
 * Made-up but realistic Vietnamese people for the demo province: names with the frequencies a
 * Mekong Delta province has, drawn from a seeded generator so that the same seed gives the same people.
 */

/** A small deterministic random source (mulberry32): not for secrets, only for repeatable demo data. */
export interface Prng {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, max). */
  int(max: number): number;
  pick<T>(items: readonly T[]): T;
  /** One item, with probability proportional to its weight. */
  weighted<T>(items: readonly (readonly [T, number])[]): T;
}

export function createPrng(seed: number): Prng {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (max: number) => Math.floor(next() * max);
  return {
    next,
    int,
    pick: (items) => items[int(items.length)]!,
    weighted(items) {
      const total = items.reduce((sum, [, weight]) => sum + weight, 0);
      let left = next() * total;
      for (const [item, weight] of items) {
        left -= weight;
        if (left < 0) return item;
      }
      return items[items.length - 1]![0];
    },
  };
}

export type Sex = 'male' | 'female';

/**
 * Family names per thousand people, as surveys of the south find them: Huỳnh and Võ are the southern
 * forms of Hoàng and Vũ (a taboo on the Nguyễn lords' names), so both spellings appear, the southern more often.
 */
const familyNames: readonly (readonly [string, number])[] = [
  ['Nguyễn', 380], ['Trần', 110], ['Lê', 95], ['Phạm', 70], ['Huỳnh', 40], ['Hoàng', 12], ['Phan', 45],
  ['Võ', 35], ['Vũ', 8], ['Đặng', 21], ['Bùi', 20], ['Đỗ', 14], ['Hồ', 13], ['Ngô', 13], ['Dương', 10],
  ['Lý', 6], ['Trương', 12], ['Đinh', 6], ['Lâm', 7], ['Đoàn', 6], ['Mai', 5], ['Cao', 5], ['Châu', 4],
  ['Lương', 4], ['Tô', 3], ['Thái', 3], ['Từ', 2],
];

const middleNames: Readonly<Record<Sex, readonly (readonly [string, number])[]>> = {
  male: [
    ['Văn', 40], ['Minh', 9], ['Hữu', 8], ['Thanh', 7], ['Quốc', 7], ['Hoàng', 5], ['Công', 5], ['Đức', 5],
    ['Tấn', 5], ['Ngọc', 4], ['Thành', 4], ['Trọng', 3], ['Chí', 3], ['Duy', 3], ['Nhật', 2], ['Phước', 2],
  ],
  female: [
    ['Thị', 45], ['Ngọc', 10], ['Kim', 6], ['Thanh', 6], ['Thu', 5], ['Mỹ', 5], ['Hồng', 4], ['Minh', 3],
    ['Phương', 3], ['Bích', 3], ['Thúy', 3], ['Diễm', 2], ['Hoài', 2], ['Kiều', 2], ['Như', 2], ['Tuyết', 2],
  ],
};

/** A second middle name after Thị or Văn ("Nguyễn Thị Ánh Tuyết"), which some families give. */
const secondMiddleNames: Readonly<Record<Sex, readonly string[]>> = {
  male: ['Minh', 'Quốc', 'Thanh', 'Hoàng', 'Nhật', 'Hữu'],
  female: ['Ánh', 'Bích', 'Kim', 'Ngọc', 'Thanh', 'Mỹ', 'Hồng', 'Thu'],
};

const givenNames: Readonly<Record<Sex, readonly string[]>> = {
  male: [
    'Hùng', 'Dũng', 'Tuấn', 'Minh', 'Hải', 'Nam', 'Phúc', 'Long', 'Khang', 'Tài', 'Thành', 'Trung', 'Hiếu',
    'Lộc', 'Phát', 'Tâm', 'Sơn', 'Quang', 'Bảo', 'Huy', 'Khoa', 'Nhân', 'Thắng', 'Toàn', 'Vinh', 'Cường',
    'Đạt', 'Hòa', 'Hưng', 'Kiệt', 'Luân', 'Nghĩa', 'Phong', 'Thiện', 'Trí', 'Tú', 'Định', 'Tân', 'Thông',
    'Hậu', 'Lợi', 'Tiến', 'Quân', 'Hào', 'Thịnh', 'Sang', 'Tín', 'Vũ', 'Đông', 'Triều',
  ],
  female: [
    'Lan', 'Hoa', 'Hương', 'Linh', 'Trang', 'Thảo', 'Ngọc', 'Mai', 'Hạnh', 'Nhung', 'Tuyết', 'Yến', 'Hà',
    'Phương', 'Thủy', 'Vy', 'Anh', 'Châu', 'Diễm', 'Duyên', 'Giang', 'Hằng', 'Hiền', 'Loan', 'Ly', 'Nga',
    'Nhi', 'Oanh', 'Quyên', 'Thư', 'Trinh', 'Uyên', 'Xuân', 'Ánh', 'Dung', 'Hồng', 'Kiều', 'Liên', 'My',
    'Nguyệt', 'Như', 'Phượng', 'Thanh', 'Thùy', 'Trâm', 'Vân', 'Ngân', 'Tiên', 'Cúc', 'Đào',
  ],
};

export interface VietnameseName {
  readonly sex: Sex;
  readonly familyName: string;
  readonly middleNames: readonly string[];
  readonly givenName: string;
  /** Family name first, as Vietnamese write it, composed (NFC). */
  readonly fullName: string;
}

export function generateVietnameseName(prng: Prng, sex: Sex = prng.next() < 0.5 ? 'male' : 'female'): VietnameseName {
  const familyName = prng.weighted(familyNames);
  const middle = [prng.weighted(middleNames[sex])];
  if ((middle[0] === 'Thị' || middle[0] === 'Văn') && prng.next() < 0.15) middle.push(prng.pick(secondMiddleNames[sex]));
  let givenName = prng.pick(givenNames[sex]);
  // "Nguyễn Thanh Thanh" happens, but rarely enough that a demo should not show it.
  while (middle.includes(givenName)) givenName = prng.pick(givenNames[sex]);
  const fullName = [familyName, ...middle, givenName].join(' ').normalize('NFC');
  return { sex, familyName, middleNames: middle, givenName, fullName };
}

/** The family names the generator draws from, for tests and for anyone searching the demo data. */
export const commonFamilyNames: readonly string[] = familyNames.map(([name]) => name);

/** A full name's parts as they are written in Vietnamese: family name first, given name last. */
export interface NameParts {
  readonly familyName: string | null;
  readonly middleName: string | null;
  readonly givenName: string | null;
}

/**
 * Splits a stored full name (NFC, single spaces) the way Vietnamese names are built: the first word
 * is the family name, the last the given name, any words between are middle names ("Nguyễn Thị Ánh
 * Tuyết": Nguyễn / Thị Ánh / Tuyết). A one-word name is a given name alone. The database splits the
 * same way for sorting (the users table's generated sort keys) and for SCIM filters.
 */
export function splitFullName(fullName: string): NameParts {
  const words = fullName.normalize('NFC').trim().split(/\s+/u).filter(Boolean);
  if (words.length === 0) return { familyName: null, middleName: null, givenName: null };
  if (words.length === 1) return { familyName: null, middleName: null, givenName: words[0]! };
  return { familyName: words[0]!, middleName: words.length > 2 ? words.slice(1, -1).join(' ') : null, givenName: words[words.length - 1]! };
}

/** Joins parts given separately back into a full name, family name first; empty parts are skipped. */
export function joinNameParts(parts: NameParts): string {
  return [parts.familyName, parts.middleName, parts.givenName].filter((part): part is string => typeof part === 'string' && part.trim() !== '').join(' ').normalize('NFC');
}
