import { createHash } from 'node:crypto';
import { numPk, userUid } from './user';
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
