import { StatementNames } from './sql';

describe('StatementNames', () => {
  it('names the same text alike and other texts apart', () => {
    const names = new StatementNames(10);
    const a = names.nameOf('SELECT 1');
    expect(a).toMatch(/^s[0-9a-f]{16}$/);
    expect(names.nameOf('SELECT 1')).toBe(a);
    expect(new StatementNames(10).nameOf('SELECT 1')).toBe(a);
    expect(names.nameOf('SELECT 2')).not.toBe(a);
  });

  it('leaves texts unnamed past its limit, and keeps the names it gave', () => {
    const names = new StatementNames(2);
    const [a, b] = [names.nameOf('a'), names.nameOf('b')];
    expect(names.nameOf('c')).toBeUndefined();
    expect([names.nameOf('a'), names.nameOf('b')]).toEqual([a, b]);
    expect(a).toBeDefined();
    expect(b).toBeDefined();
  });
});
