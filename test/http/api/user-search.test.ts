import { beforeAll, describe, expect, it } from 'vitest';

import {
  addPerson,
  expectApiError,
  useProvinceServer,
  type ApiCall,
} from '../../support/admin-api.ts';

interface UserList {
  items: { id: string; full_name: string; username: string }[];
  next: string | null;
}

/** The people of Cái Bè, with the usernames HR would give them. */
const caiBePeople: [fullName: string, username: string][] = [
  ['Nguyễn Thị Ánh Tuyết', 'tuyetnta'],
  ['Đặng Văn Lâm', 'lamdv'],
  ['Trần Thị Ngọc Ánh', 'anhttn'],
  ['Lê Đức Anh', 'anhld'],
  ['Phạm Minh Đăng', 'dangpm'],
  ['Trần Thiện Ân', 'antt'],
  ['Nguyễn Thanh Bình', 'binhnt'],
  ['Nguyễn Văn Dũng', 'dungnv'],
  ['Ngô Thị Oanh', 'oanhnt'],
  ['Lâm Văn Ơn', 'onlv'],
  ['Dương Thị Cúc', 'cucdt'],
];

const world = useProvinceServer();

beforeAll(async () => {
  for (const [index, [fullName, username]] of caiBePeople.entries()) {
    // Spread over the district, its commune and the health station: a subtree scope reaches them all.
    const unit = [world.tree.caiBe, world.tree.anHuu, world.tree.anHuuHealthStation][index % 3]!;
    await addPerson(world.server, { fullName, username, unit, employeeCode: `CB-${String(index + 1).padStart(3, '0')}` });
  }
  await addPerson(world.server, { fullName: 'Đặng Thị Mai', username: 'maidt', unit: world.tree.binhPhan });
});

const namesFound = async (caller: ApiCall, query: string) => {
  const response = await caller<UserList>('GET', `/users?${query}&limit=200`);
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body.items.map((user) => user.full_name);
};
const search = (caller: ApiCall, q: string) => namesFound(caller, `q=${encodeURIComponent(q)}`);

/** Every page of a list, following `next` until the last page. */
async function allPages(caller: ApiCall, query: string, limit: number): Promise<{ names: string[]; pages: number }> {
  const names: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const response: { status: number; body: UserList } = await caller<UserList>('GET', `/users?${query}&limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
    expect(response.status).toBe(200);
    expect(response.body.items.length).toBeLessThanOrEqual(limit);
    names.push(...response.body.items.map((user) => user.full_name));
    cursor = response.body.next;
    pages += 1;
  } while (cursor !== null && pages < 50);
  return { names, pages };
}

describe('searching people by name, ignoring case and diacritics', () => {
  it('finds Nguyễn Thị Ánh Tuyết typed without diacritics', async () => {
    expect(await search(world.superAdmin, 'nguyen thi anh tuyet')).toEqual(['Nguyễn Thị Ánh Tuyết']);
  });

  it('finds her by her given name with its diacritics', async () => {
    expect(await search(world.superAdmin, 'Tuyết')).toEqual(['Nguyễn Thị Ánh Tuyết']);
    expect(await search(world.superAdmin, 'TUYẾT')).toEqual(['Nguyễn Thị Ánh Tuyết']);
  });

  it('finds every Đặng, and Đăng too, for "dang" and for "Đặng" alike', async () => {
    const expected = ['Đặng Thị Mai', 'Đặng Văn Lâm', 'Phạm Minh Đăng'];
    for (const q of ['dang', 'Đặng', 'ĐẶNG']) {
      expect(await namesFound(world.superAdmin, `q=${encodeURIComponent(q)}&sort=family_name`)).toEqual(expected);
    }
  });

  it('finds a name written in decomposed Unicode, as some keyboards send it', async () => {
    expect(await search(world.superAdmin, 'Tuyết'.normalize('NFD'))).toEqual(['Nguyễn Thị Ánh Tuyết']);
  });

  it('finds people by username and by employee code', async () => {
    expect(await search(world.superAdmin, 'anhttn')).toEqual(['Trần Thị Ngọc Ánh']);
    expect(await search(world.superAdmin, 'cb-007')).toEqual(['Nguyễn Thanh Bình']);
  });

  it('treats LIKE wildcards in the query as plain characters', async () => {
    expect(await search(world.superAdmin, '%')).toEqual([]);
    expect(await search(world.superAdmin, 'cb_007')).toEqual([]);
  });

  it('searches only the caller\'s subtree: the Cái Bè admin does not find Đặng Thị Mai of Chợ Gạo', async () => {
    expect(await search(world.caiBeAdmin.api, 'dang')).toEqual(['Phạm Minh Đăng', 'Đặng Văn Lâm']);
  });

  it('lists a search\'s matches newest first unless an order is asked for, and a list without q by family name', async () => {
    // Added in this order: Đặng Văn Lâm, Phạm Minh Đăng, then Đặng Thị Mai last of all.
    expect(await search(world.superAdmin, 'dang')).toEqual(['Đặng Thị Mai', 'Phạm Minh Đăng', 'Đặng Văn Lâm']);
    expect(await namesFound(world.superAdmin, 'q=dang&sort=newest')).toEqual(['Đặng Thị Mai', 'Phạm Minh Đăng', 'Đặng Văn Lâm']);
    expect(await namesFound(world.superAdmin, 'q=dang&sort=created_at')).toEqual(['Đặng Văn Lâm', 'Phạm Minh Đăng', 'Đặng Thị Mai']);
    const browsed = await namesFound(world.caiBeAdmin.api, '');
    expect(browsed).toEqual(await namesFound(world.caiBeAdmin.api, 'sort=family_name'));
    expect(browsed[0]).toBe('Dương Thị Cúc');
  });
});

describe('sorting in Vietnamese alphabetical order', () => {
  it('sorts by family name, the first word: d before đ, so Dương comes before Đặng', async () => {
    expect(await namesFound(world.caiBeAdmin.api, 'sort=family_name')).toEqual([
      'Dương Thị Cúc',
      'Đặng Văn Lâm',
      'Lâm Văn Ơn',
      'Lê Đức Anh',
      'Ngô Thị Oanh',
      'Nguyễn Thanh Bình',
      'Nguyễn Thị Ánh Tuyết',
      'Nguyễn Văn Dũng',
      'Phạm Minh Đăng',
      // Trần Thị before Trần Thiện: the shorter word first.
      'Trần Thị Ngọc Ánh',
      'Trần Thiện Ân',
    ]);
  });

  it('sorts by given name, the last word: a < â, d < đ, o < ơ; Anh and Ánh tie, then the full name decides', async () => {
    expect(await namesFound(world.caiBeAdmin.api, 'sort=given_name')).toEqual([
      'Lê Đức Anh',
      'Trần Thị Ngọc Ánh',
      'Trần Thiện Ân',
      'Nguyễn Thanh Bình',
      'Dương Thị Cúc',
      'Nguyễn Văn Dũng',
      'Phạm Minh Đăng',
      'Đặng Văn Lâm',
      'Ngô Thị Oanh',
      'Lâm Văn Ơn',
      'Nguyễn Thị Ánh Tuyết',
    ]);
  });

  it('sorts by username', async () => {
    const usernames = caiBePeople.map(([, username]) => username).sort();
    const response = await world.caiBeAdmin.api<UserList>('GET', '/users?sort=username&limit=200');
    expect(response.body.items.map((user) => user.username)).toEqual(usernames);
  });
});

describe('cursor pagination', () => {
  it('returns every person exactly once, in order, page by page, for every sort order', async () => {
    for (const sort of ['family_name', 'given_name', 'username', 'created_at', 'newest']) {
      const everyone = await namesFound(world.superAdmin, `sort=${sort}`);
      expect(everyone).toHaveLength(caiBePeople.length + 2);
      const paged = await allPages(world.superAdmin, `sort=${sort}`, 3);
      expect(paged.names, sort).toEqual(everyone);
      expect(paged.pages, sort).toBe(Math.ceil(everyone.length / 3));
    }
  });

  it('pages through a search and a subtree as well', async () => {
    expect((await allPages(world.superAdmin, 'q=nguyen&sort=given_name', 1)).names).toEqual(['Nguyễn Thanh Bình', 'Nguyễn Văn Dũng', 'Nguyễn Thị Ánh Tuyết']);
    expect((await allPages(world.superAdmin, 'q=nguyen', 1)).names).toEqual(['Nguyễn Văn Dũng', 'Nguyễn Thanh Bình', 'Nguyễn Thị Ánh Tuyết']);
    const anHuu = await allPages(world.caiBeAdmin.api, `org_unit_id=${world.tree.anHuu.id}`, 2);
    expect(anHuu.names).toEqual(await namesFound(world.caiBeAdmin.api, `org_unit_id=${world.tree.anHuu.id}`));
    expect(anHuu.names).toHaveLength(7);
  });

  it('answers the last page with next: null', async () => {
    const response = await world.superAdmin<UserList>('GET', '/users?limit=200');
    expect(response.body.next).toBeNull();
  });

  it('refuses a cursor it did not give out, and a limit beyond 200, with 400', async () => {
    expectApiError(await world.superAdmin('GET', '/users?cursor=not-a-cursor'), 400, 'invalid_cursor');
    const forged = Buffer.from(JSON.stringify({ key: 'x', id: 'not-a-uuid' })).toString('base64url');
    expectApiError(await world.superAdmin('GET', `/users?cursor=${forged}`), 400, 'invalid_cursor');
    // A name order's cursor handed to a creation order is not a timestamp: refused, not a database error.
    const byName = await world.superAdmin<UserList>('GET', '/users?sort=family_name&limit=1');
    expect(byName.body.next).not.toBeNull();
    for (const sort of ['created_at', 'newest']) {
      expectApiError(await world.superAdmin('GET', `/users?sort=${sort}&cursor=${byName.body.next}`), 400, 'invalid_cursor');
    }
    const notAnInstant = Buffer.from(JSON.stringify({ key: '2026-13-45T99:99:99.999999', id: '00000000-0000-4000-8000-000000000000' })).toString('base64url');
    expectApiError(await world.superAdmin('GET', `/users?sort=newest&cursor=${notAnInstant}`), 400, 'invalid_cursor');
    expectApiError(await world.superAdmin('GET', '/users?limit=201'), 400, 'invalid_input', 'query.limit');
    expectApiError(await world.superAdmin('GET', '/users?sort=age'), 400, 'invalid_input', 'query.sort');
  });
});
