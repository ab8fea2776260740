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

  it('renews a name to one not given before, and keeps it', () => {
    const names = new StatementNames(10);
    const first = names.nameOf('a');
    names.renew('a');
    const second = names.nameOf('a');
    names.renew('a');
    expect(new Set([first, second, names.nameOf('a')]).size).toBe(3);
    expect(names.nameOf('a')).toBe(names.nameOf('a'));
  });

  it('leaves a text it never named unnamed when renewed', () => {
    const names = new StatementNames(1);
    names.nameOf('a');
    names.renew('b');
    expect(names.nameOf('b')).toBeUndefined();
  });
});
