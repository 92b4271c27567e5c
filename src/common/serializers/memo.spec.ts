import { memoize } from './memo';

describe('memoize', () => {
  it('computes a key once and returns the same value after', () => {
    const calls: string[] = [];
    const upper = memoize((key) => {
      calls.push(key);
      return key.toUpperCase();
    });
    expect([upper('a'), upper('b'), upper('a')]).toEqual(['A', 'B', 'A']);
    expect(calls).toEqual(['a', 'b']);
  });

  it('keeps at most `capacity` values, dropping the oldest', () => {
    const calls: string[] = [];
    const same = memoize((key) => {
      calls.push(key);
      return key;
    }, 2);
    same('a');
    same('b');
    same('c'); // drops a
    same('b');
    same('a'); // computed again, drops b
    same('c');
    expect(calls).toEqual(['a', 'b', 'c', 'a']);
  });
});
