import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { z } from 'zod';

import { orgUnitKinds, type OrgUnitKind } from '../db/schema.ts';
import { normalizeName, orgUnitCodeSchema, usernameFromName } from './person-fields.ts';
import { createPrng, generateVietnameseName, type Prng, type Sex } from './vietnamese-names.ts';

/**
 * The demo province as data, before anything is written: the top of the org tree from
 * demo/org-units.csv, the lower levels generated from it, and the people who work there. Everything
 * comes from fixed tables and a seeded generator, so every run, on every machine, gives the same province.
 */

export interface DemoUnit {
  readonly code: string;
  readonly parentCode: string | null;
  readonly kind: OrgUnitKind;
  readonly name: string;
}

const csvUnitSchema = z.object({
  code: orgUnitCodeSchema,
  parent_code: z.string().trim().transform((value) => (value === '' ? null : orgUnitCodeSchema.parse(value))),
  kind: z.enum(orgUnitKinds),
  name: z.string().transform(normalizeName).pipe(z.string().min(1)),
});

/** Reads the org-units CSV (code, parent_code, kind, name); a bad line stops the seed, naming the line. */
export function parseDemoOrgUnits(csv: string): DemoUnit[] {
  const records = parse<Record<string, string>>(csv, { columns: true, skip_empty_lines: true, bom: true });
  return records.map((record, index) => {
    const parsed = csvUnitSchema.safeParse(record);
    if (!parsed.success) {
      throw new Error(`org-units CSV line ${index + 2}: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
    }
    const { code, parent_code: parentCode, kind, name } = parsed.data;
    return { code, parentCode, kind, name };
  });
}

/**
 * Communes, wards and townships of each district-level unit, as they stood before the 2025 reform
 * (a selection). "Phường 2" becomes code P2, the n-th "xã" X0n, the n-th "thị trấn" TT0n.
 */
const communesOfDistrict: Readonly<Record<string, readonly string[]>> = {
  'TG.MYTHO': ['Phường 2', 'Phường 4', 'xã Đạo Thạnh', 'xã Mỹ Phong'],
  'TG.GOCONG': ['Phường 1', 'Phường 2', 'xã Long Hưng', 'xã Bình Đông'],
  'TG.CAILAYTX': ['Phường 1', 'Phường 2', 'xã Mỹ Phước Tây', 'xã Thanh Hòa'],
  'TG.CAIBE': ['thị trấn Cái Bè', 'xã An Hữu', 'xã Hòa Khánh', 'xã Mỹ Lương', 'xã Hậu Thành'],
  'TG.CAILAY': ['thị trấn Bình Phú', 'xã Mỹ Thành Nam', 'xã Phú An', 'xã Long Trung'],
  'TG.CHAUTHANH': ['thị trấn Tân Hiệp', 'xã Long Định', 'xã Tam Hiệp', 'xã Vĩnh Kim'],
  'TG.TANPHUOC': ['thị trấn Mỹ Phước', 'xã Tân Hòa Thành', 'xã Phước Lập', 'xã Thạnh Mỹ'],
  'TG.CHOGAO': ['thị trấn Chợ Gạo', 'xã Long Bình Điền', 'xã Hòa Định', 'xã Bình Phục Nhứt'],
  'TG.GCTAY': ['thị trấn Vĩnh Bình', 'xã Thành Công', 'xã Đồng Sơn', 'xã Long Bình'],
  'TG.GCDONG': ['thị trấn Tân Hòa', 'thị trấn Vàm Láng', 'xã Tân Tây', 'xã Gia Thuận'],
  'TG.TANPHUDONG': ['xã Phú Thạnh', 'xã Phú Đông', 'xã Tân Thới', 'xã Tân Phú'],
};

/** The offices of a district-level People's Committee; each name ends with the district's own. */
const districtOffices: readonly (readonly [string, string])[] = [
  ['VP', 'Văn phòng Hội đồng nhân dân và Ủy ban nhân dân'],
  ['PNV', 'Phòng Nội vụ'],
  ['PTCKH', 'Phòng Tài chính - Kế hoạch'],
  ['PYT', 'Phòng Y tế'],
];

/** Offices inside departments. A department not listed gets a "Văn phòng" named after it. */
const departmentOffices: Readonly<Record<string, readonly (readonly [string, string])[]>> = {
  'TG.VP': [['HCTC', 'Phòng Hành chính - Tổ chức'], ['KT', 'Phòng Kinh tế'], ['TTPVHCC', 'Trung tâm Phục vụ hành chính công']],
  'TG.SNV': [['CCVTLT', 'Chi cục Văn thư - Lưu trữ'], ['XDCQ', 'Phòng Xây dựng chính quyền và Công tác thanh niên']],
  'TG.STP': [['HCTP', 'Phòng Hành chính tư pháp'], ['BTTP', 'Phòng Bổ trợ tư pháp']],
  'TG.SKHDT': [['THQH', 'Phòng Tổng hợp, quy hoạch'], ['DKKD', 'Phòng Đăng ký kinh doanh']],
  'TG.STC': [['QLNS', 'Phòng Quản lý ngân sách'], ['TCDN', 'Phòng Tài chính doanh nghiệp']],
  'TG.SCT': [['QLTM', 'Phòng Quản lý thương mại'], ['QLNL', 'Phòng Quản lý năng lượng']],
  'TG.SNNPTNT': [['CCTTBVTV', 'Chi cục Trồng trọt và Bảo vệ thực vật'], ['CCTS', 'Chi cục Thủy sản']],
  'TG.SGTVT': [['QLVT', 'Phòng Quản lý vận tải, phương tiện và người lái'], ['QLHT', 'Phòng Quản lý kết cấu hạ tầng giao thông']],
  'TG.SXD': [['QLXD', 'Phòng Quản lý xây dựng'], ['QHKT', 'Phòng Quy hoạch - Kiến trúc']],
  'TG.STNMT': [['QLDD', 'Phòng Quản lý đất đai'], ['CCBVMT', 'Chi cục Bảo vệ môi trường']],
  'TG.STTTT': [['CNTT', 'Phòng Công nghệ thông tin'], ['TTCNTT', 'Trung tâm Công nghệ thông tin và Truyền thông']],
  'TG.SLDTBXH': [['LDVL', 'Phòng Lao động - Việc làm'], ['BTXH', 'Phòng Bảo trợ xã hội']],
  'TG.SVHTTDL': [['QLVH', 'Phòng Quản lý văn hóa'], ['QLDL', 'Phòng Quản lý du lịch']],
  'TG.SKHCN': [['QLKH', 'Phòng Quản lý khoa học']],
  'TG.SGDDT': [['GDTH', 'Phòng Giáo dục Trung học'], ['GDTIEUH', 'Phòng Giáo dục Tiểu học']],
  'TG.SYT': [['NVY', 'Phòng Nghiệp vụ Y'], ['NVD', 'Phòng Nghiệp vụ Dược'], ['TCCB', 'Phòng Tổ chức cán bộ'], ['KHTC', 'Phòng Kế hoạch - Tài chính']],
  'TG.TTR': [['TCD', 'Phòng Tiếp công dân và Xử lý đơn thư'], ['NV1', 'Phòng Nghiệp vụ 1']],
  'TG.BQLKCN': [['QLDN', 'Phòng Quản lý doanh nghiệp']],
  'TG.DPTTH': [['TS', 'Phòng Thời sự'], ['KTCN', 'Phòng Kỹ thuật - Công nghệ']],
};

/** Clinical departments and offices of a hospital (kind unit). */
const hospitalDepartments = {
  KKB: 'Khoa Khám bệnh', CC: 'Khoa Cấp cứu', NOI: 'Khoa Nội', NGOAI: 'Khoa Ngoại', NHI: 'Khoa Nhi', SAN: 'Khoa Phụ sản',
  HSTC: 'Khoa Hồi sức tích cực - Chống độc', XN: 'Khoa Xét nghiệm', CDHA: 'Khoa Chẩn đoán hình ảnh', DUOC: 'Khoa Dược',
  KSBT: 'Khoa Kiểm soát bệnh tật', KHTH: 'Phòng Kế hoạch tổng hợp', DD: 'Phòng Điều dưỡng', TCKT: 'Phòng Tài chính - Kế toán',
} as const;
type HospitalDepartment = keyof typeof hospitalDepartments;

/** Which departments each kind of hospital has: a central hospital has them all, a district health centre few. */
const departmentsOf = (unit: DemoUnit): readonly HospitalDepartment[] => {
  if (unit.kind === 'health_centre') return ['KKB', 'CC', 'NOI', 'KSBT', 'DUOC'];
  if (unit.code.endsWith('.BVDKTT')) return ['KKB', 'CC', 'NOI', 'NGOAI', 'NHI', 'SAN', 'HSTC', 'XN', 'CDHA', 'DUOC', 'KHTH', 'DD', 'TCKT'];
  if (unit.code.endsWith('.BVCK')) return ['KKB', 'CC', 'NOI', 'XN', 'DUOC', 'KHTH'];
  return ['KKB', 'CC', 'NOI', 'NGOAI', 'NHI', 'SAN', 'XN', 'DUOC', 'KHTH'];
};

/** "Ủy ban nhân dân huyện Cái Bè" → "huyện Cái Bè". */
const placeOf = (committeeName: string) => committeeName.replace(/^Ủy ban nhân dân\s+/u, '');

/**
 * The whole demo tree: the CSV's units (which win when a generated code is the same), then, under
 * them, communes with their health stations, offices of departments and districts, and departments
 * of hospitals and health centres. A parent always comes before its children.
 */
export function buildDemoTree(base: readonly DemoUnit[]): DemoUnit[] {
  const generated: DemoUnit[] = [];
  const add = (parent: DemoUnit, suffix: string, kind: OrgUnitKind, name: string) => {
    const unit = { code: `${parent.code}.${suffix}`, parentCode: parent.code, kind, name: name.normalize('NFC') };
    generated.push(unit);
    return unit;
  };
  for (const unit of base) {
    if (unit.kind === 'district') {
      const place = placeOf(unit.name);
      for (const [suffix, name] of districtOffices) add(unit, suffix, 'office', `${name} ${place}`);
      const sequence = { xã: 0, 'thị trấn': 0 };
      for (const commune of communesOfDistrict[unit.code] ?? []) {
        const ward = /^Phường (\d+)$/u.exec(commune);
        let suffix: string;
        if (ward) suffix = `P${ward[1]!}`;
        else {
          const type = commune.startsWith('xã ') ? 'xã' : 'thị trấn';
          sequence[type] += 1;
          suffix = `${type === 'xã' ? 'X' : 'TT'}${String(sequence[type]).padStart(2, '0')}`;
        }
        const committee = add(unit, suffix, 'commune', `Ủy ban nhân dân ${commune}`);
        add(committee, 'TYT', 'health_station', `Trạm Y tế ${commune}`);
      }
    }
    if (unit.kind === 'department') {
      const offices = departmentOffices[unit.code] ?? [];
      // A department's own secretariat, named after it: "Văn phòng Sở Tài chính".
      if (!unit.name.startsWith('Văn phòng')) add(unit, 'VP', 'office', `Văn phòng ${unit.name}`);
      for (const [suffix, name] of offices) add(unit, suffix, 'office', name);
    }
    if (unit.kind === 'hospital' || unit.kind === 'health_centre') {
      for (const department of departmentsOf(unit)) add(unit, department, 'unit', hospitalDepartments[department]);
    }
  }
  const baseCodes = new Set(base.map((unit) => unit.code));
  return [...base, ...generated.filter((unit) => !baseCodes.has(unit.code))];
}

export interface DemoPerson {
  readonly employeeCode: string;
  readonly fullName: string;
  readonly username: string;
  readonly email: string;
  /** As HR types it (0912 345 678); the import stores E.164. */
  readonly phone: string;
  readonly orgUnitCode: string;
  readonly position: string;
  readonly nationalId: string;
}

/**
 * Where the demo people's mail would go: a name under the reserved .example domain (RFC 2606), so
 * that a demo seeded on a server with a real SMTP_URL never mails real government addresses.
 */
export const demoMailDomain = 'tiengiang.example';

/** What a unit's staff do: the head and deputies' titles and the jobs of everyone else, with weights. */
interface Staffing {
  readonly head: string;
  readonly deputy: string;
  readonly staff: readonly (readonly [string, number])[];
  /** How many people a unit of this sort has, relative to others: where people are drawn. */
  readonly weight: number;
}

const officeWork: Staffing['staff'] = [['Chuyên viên', 6], ['Chuyên viên chính', 2], ['Kế toán', 1], ['Văn thư', 1]];

function staffingOf(unit: DemoUnit, parent: DemoUnit | undefined): Staffing {
  const titled = (head: string, staff = officeWork, weight = 3): Staffing => ({ head, deputy: `Phó ${head}`, staff, weight });
  switch (unit.kind) {
    case 'province':
    case 'district':
      return titled('Chủ tịch', [['Chuyên viên', 6], ['Văn thư', 1]]);
    case 'commune':
      return titled('Chủ tịch Ủy ban nhân dân', [
        ['Công chức Văn phòng - Thống kê', 2], ['Công chức Tư pháp - Hộ tịch', 2], ['Công chức Địa chính - Xây dựng', 2],
        ['Công chức Tài chính - Kế toán', 1], ['Công chức Văn hóa - Xã hội', 2],
      ]);
    case 'health_station':
      return { head: 'Trạm trưởng', deputy: 'Phó Trạm trưởng', staff: [['Bác sĩ', 2], ['Y sĩ', 2], ['Điều dưỡng', 2], ['Hộ sinh', 1]], weight: 2 };
    case 'hospital':
    case 'health_centre':
      return titled('Giám đốc', [['Chuyên viên', 3], ['Kế toán', 1], ['Văn thư', 1]], unit.kind === 'hospital' ? 3 : 2);
    case 'unit':
      if (parent?.kind === 'hospital' || parent?.kind === 'health_centre') return clinicalStaffing(unit);
      return titled('Trưởng phòng');
    case 'department':
    case 'office':
      return titled(headOf(unit.name), officeWork, unit.kind === 'department' ? 4 : 3);
  }
}

/** The title of an office's head follows the first words of its name. */
function headOf(name: string): string {
  const titles: readonly (readonly [RegExp, string])[] = [
    [/^Sở /u, 'Giám đốc'], [/^(Trung tâm|Đài) /u, 'Giám đốc'], [/^Văn phòng /u, 'Chánh Văn phòng'],
    [/^Thanh tra /u, 'Chánh Thanh tra'], [/^Chi cục /u, 'Chi cục trưởng'], [/^Ban /u, 'Trưởng ban'], [/^Hội /u, 'Chủ tịch Hội'],
  ];
  return titles.find(([pattern]) => pattern.test(name))?.[1] ?? 'Trưởng phòng';
}

function clinicalStaffing(unit: DemoUnit): Staffing {
  const department = unit.code.slice(unit.code.lastIndexOf('.') + 1) as HospitalDepartment;
  if (unit.name.startsWith('Phòng ')) {
    const staff: Staffing['staff'] = department === 'DD' ? [['Điều dưỡng', 3], ['Chuyên viên', 1]]
      : department === 'TCKT' ? [['Kế toán', 4], ['Chuyên viên', 1]] : [['Chuyên viên', 3], ['Bác sĩ', 1], ['Văn thư', 1]];
    return { head: 'Trưởng phòng', deputy: 'Phó Trưởng phòng', staff, weight: 2 };
  }
  const staff: Staffing['staff'] = department === 'DUOC' ? [['Dược sĩ', 4], ['Kỹ thuật viên', 1]]
    : department === 'XN' || department === 'CDHA' ? [['Kỹ thuật viên', 3], ['Bác sĩ', 2]]
      : department === 'SAN' ? [['Bác sĩ', 3], ['Hộ sinh', 3], ['Điều dưỡng', 2]]
        : [['Bác sĩ', 4], ['Điều dưỡng', 5], ['Kỹ thuật viên', 1]];
  return { head: 'Trưởng khoa', deputy: 'Phó Trưởng khoa', staff, weight: 4 };
}

/** How likely the holder of a position is a woman; nursing and midwifery are mostly women's work in Vietnam. */
const womenShare = (position: string) =>
  position === 'Hộ sinh' ? 0.95 : position === 'Điều dưỡng' ? 0.8 : /Chủ tịch|Giám đốc|Chánh|trưởng|Trưởng/u.test(position) ? 0.3 : 0.55;

/** Mobile prefixes of the three big networks (Viettel, VinaPhone, MobiFone) after the 2018 renumbering. */
const mobilePrefixes = [
  '032', '033', '034', '035', '036', '037', '038', '039', '070', '076', '077', '078', '079', '081', '082', '083', '084',
  '085', '086', '088', '090', '091', '093', '094', '096', '097', '098',
];

const demoPeopleSeed = 0x7469656e; // "tien"

/**
 * `count` people spread over the tree, each person's unit, job and identity drawn in turn from one
 * seeded sequence: the first n of a larger count are the n of a smaller one, so seeding 50 and then
 * 400 adds 350. Employee codes, usernames, emails and CCCDs are unique among them.
 */
export function generateDemoPeople(tree: readonly DemoUnit[], count: number): DemoPerson[] {
  const prng = createPrng(demoPeopleSeed);
  const byCode = new Map(tree.map((unit) => [unit.code, unit]));
  const places = tree.map((unit) => ({ unit, staffing: staffingOf(unit, unit.parentCode === null ? undefined : byCode.get(unit.parentCode)) }));
  const weightedPlaces = places.map((place) => [place, place.staffing.weight] as const);
  const leadersOf = new Map<string, Leaders>();
  const usernames = new Map<string, number>();
  const nationalIds = new Set<string>();
  const people: DemoPerson[] = [];
  for (let index = 0; index < count; index += 1) {
    const { unit, staffing } = prng.weighted(weightedPlaces);
    let leaders = leadersOf.get(unit.code);
    if (!leaders) leadersOf.set(unit.code, (leaders = { head: false, deputies: 0 }));
    const position = positionFor(prng, staffing, leaders);
    const sex: Sex = prng.next() < womenShare(position) ? 'female' : 'male';
    const { fullName } = generateVietnameseName(prng, sex);
    const base = usernameFromName(fullName);
    const seen = (usernames.get(base) ?? 0) + 1;
    usernames.set(base, seen);
    const username = seen === 1 ? base : `${base}${seen}`;
    people.push({
      employeeCode: `TG-${String(index + 1).padStart(6, '0')}`,
      fullName,
      username,
      email: `${username}@${demoMailDomain}`,
      phone: mobileNumber(prng),
      orgUnitCode: unit.code,
      position,
      nationalId: citizenId(prng, sex, nationalIds),
    });
  }
  return people;
}

interface Leaders {
  head: boolean;
  deputies: number;
}

/** A unit has one head and at most two deputies; the first people drawn into it may become them. */
function positionFor(prng: Prng, staffing: Staffing, leaders: Leaders): string {
  const roll = prng.next();
  if (!leaders.head && roll < 0.12) {
    leaders.head = true;
    return staffing.head;
  }
  if (leaders.deputies < 2 && roll < 0.22) {
    leaders.deputies += 1;
    return staffing.deputy;
  }
  return prng.weighted(staffing.staff);
}

function mobileNumber(prng: Prng): string {
  const digits = Array.from({ length: 7 }, () => prng.int(10)).join('');
  const prefix = prng.pick(mobilePrefixes);
  return `${prefix}${digits[0]!} ${digits.slice(1, 4)} ${digits.slice(4)}`;
}

/**
 * A CCCD registered in Tiền Giang (province code 082): then the sex and century digit (0/1 for men
 * and women born in the 1900s, 2/3 in the 2000s), the last two digits of the year of birth, and six
 * random digits. People of working age: born 1966 to 2001.
 */
function citizenId(prng: Prng, sex: Sex, taken: Set<string>): string {
  const year = 1966 + prng.int(36);
  const sexCentury = (year >= 2000 ? 2 : 0) + (sex === 'female' ? 1 : 0);
  for (;;) {
    const id = `082${sexCentury}${String(year % 100).padStart(2, '0')}${String(prng.int(1_000_000)).padStart(6, '0')}`;
    if (!taken.has(id)) {
      taken.add(id);
      return id;
    }
  }
}

/** The people as HR's spreadsheet would list them, with its Vietnamese headers, for the bulk import. */
export function demoPeopleCsv(people: readonly DemoPerson[]): string {
  return stringify(
    people.map((person) => [
      person.employeeCode, person.fullName, person.username, person.email, person.phone, person.orgUnitCode, person.position, person.nationalId,
    ]),
    { header: true, columns: ['Mã cán bộ', 'Họ và tên', 'Tên đăng nhập', 'Thư điện tử', 'Số điện thoại', 'Mã đơn vị', 'Chức vụ', 'Số CCCD'] },
  );
}

export const defaultDemoPeople = 400;
