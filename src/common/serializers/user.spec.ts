import { createHash } from 'node:crypto';
import { AvatarResolver } from './avatar';
import { numPk, toUserDto, userUid, type UserRow } from './user';
import { isoFromSql } from './timestamps';

describe('user serializer helpers', () => {
  it('num_pk is the first five digits of the UUID as an integer', () => {
    const uuid = '9a2f0c1e-5b6d-4e7f-8a9b-0c1d2e3f4a5b';
    expect(numPk(uuid)).toBe(Number(BigInt('0x9a2f0c1e5b6d4e7f8a9b0c1d2e3f4a5b').toString().slice(0, 5)));
    expect(numPk('00000000-0000-0000-0000-000000000007')).toBe(7);
  });

  it('uid is sha256("<pk>-<install id>")', () => {
    const install = '5f0c4a8e-1111-4222-8333-944455556666';
    expect(userUid(42, install)).toBe(createHash('sha256').update(`42-${install}`).digest('hex'));
    expect(userUid(42, install)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('timestamps drop zero microseconds like Python isoformat', () => {
    expect(isoFromSql('2026-01-02T03:04:05.000000Z')).toBe('2026-01-02T03:04:05Z');
    expect(isoFromSql('2026-01-02T03:04:05.120000Z')).toBe('2026-01-02T03:04:05.120000Z');
    expect(isoFromSql(null)).toBeNull();
  });
});

describe('toUserDto', () => {
  const row: UserRow = {
    id: 42,
    uuid: '11111111-2222-4333-8444-555555555555',
    username: 'ada',
    name: 'Ada Lovelace',
    email: 'ada@example.com',
    is_active: true,
    last_login: '2026-03-04T05:06:07.000000Z',
    date_joined: '2025-01-01T00:00:00.123456Z',
    password_change_date: '2025-01-02T00:00:00.000000Z',
    last_updated: '2026-03-04T05:06:07.500000Z',
    path: 'users',
    type: 'internal',
    attributes: { team: 'engines' },
    is_superuser: false,
    groups: [
      {
        pk: '00000000-0000-0000-0000-000000000007',
        name: 'analysts',
        is_superuser: false,
        parent: '00000000-0000-0000-0000-000000000008',
        parent_name: 'staff',
        attributes: { level: 2 },
      },
    ],
    roles: [{ pk: '99999999-0000-4000-8000-000000000001', name: 'auditor' }],
  };
  const install = '5f0c4a8e-1111-4222-8333-944455556666';
  const context = {
    installId: install,
    avatars: new AvatarResolver('none'),
    includeGroups: true,
    includeRoles: true,
  };

  it('shapes a user as authentik does, field by field', () => {
    expect(toUserDto(row, context)).toStrictEqual({
      pk: 42,
      username: 'ada',
      name: 'Ada Lovelace',
      is_active: true,
      last_login: '2026-03-04T05:06:07Z',
      date_joined: '2025-01-01T00:00:00.123456Z',
      is_superuser: false,
      groups: ['00000000-0000-0000-0000-000000000007'],
      groups_obj: [
        {
          pk: '00000000-0000-0000-0000-000000000007',
          num_pk: 7,
          name: 'analysts',
          is_superuser: false,
          parent: '00000000-0000-0000-0000-000000000008',
          parent_name: 'staff',
          attributes: { level: 2 },
        },
      ],
      roles: ['99999999-0000-4000-8000-000000000001'],
      roles_obj: [{ pk: '99999999-0000-4000-8000-000000000001', name: 'auditor' }],
      email: 'ada@example.com',
      avatar: '/static/dist/assets/images/user_default.png',
      attributes: { team: 'engines' },
      uid: createHash('sha256').update(`42-${install}`).digest('hex'),
      path: 'users',
      type: 'internal',
      uuid: '11111111-2222-4333-8444-555555555555',
      password_change_date: '2025-01-02T00:00:00Z',
      last_updated: '2026-03-04T05:06:07.500000Z',
    });
  });

  it('leaves out group and role objects unless asked, and keeps a null last login', () => {
    const dto = toUserDto(
      { ...row, last_login: null },
      { ...context, includeGroups: false, includeRoles: false },
    );
    expect(dto.groups_obj).toBeNull();
    expect(dto.roles_obj).toBeNull();
    expect(dto.groups).toEqual(['00000000-0000-0000-0000-000000000007']);
    expect(dto.roles).toEqual(['99999999-0000-4000-8000-000000000001']);
    expect(dto.last_login).toBeNull();
  });

  it('copies nested groups and roles field by field', () => {
    const extra = {
      ...row,
      groups: [{ ...row.groups[0], secret: 's' } as UserRow['groups'][number]],
      roles: [{ ...row.roles[0], secret: 's' } as UserRow['roles'][number]],
      password: 'hash',
    };
    expect(JSON.stringify(toUserDto(extra, context))).not.toContain('"secret"');
    expect(JSON.stringify(toUserDto(extra, context))).not.toContain('"password"');
  });
});
