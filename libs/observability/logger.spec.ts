import { keyForLog } from './logger';

describe('keyForLog', () => {
  it.each<[string, Buffer | null | undefined, string | null]>([
    ['no key', null, null],
    ['an absent key', undefined, null],
    ['an empty key', Buffer.alloc(0), ''],
    ['a docId', Buffer.from('sales'), 'sales'],
    ['a Unicode key', Buffer.from('bücher'), 'bücher'],
    ['200 characters, kept', Buffer.from('k'.repeat(200)), 'k'.repeat(200)],
    ['a longer key, cut to 200 characters', Buffer.from('k'.repeat(10_000)), 'k'.repeat(200)],
    ['bytes that are no UTF-8', Buffer.from([0xff, 0x61]), '\ufffda'],
  ])('%s', (_case, key, expected) => {
    expect(keyForLog(key)).toBe(expected);
  });
});
