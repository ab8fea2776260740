import { parsePayloadEvent } from './parse-payload-event';

const valid = {
  v: 1,
  eventId: 'doc:7:6f1c8a3e-5b2d-4c1e-9a7f-0123456789ab',
  webhookId: '6f1c8a3e-5b2d-4c1e-9a7f-0123456789ab',
  docId: 'doc',
  tableId: 'Orders',
  actionNum: 7,
  bundleTime: 1764430000000,
  rows: [{ type: 'add', id: 1, fields: {}, previous: {}, changedColIds: [] }],
};
const text = (value: unknown): string => JSON.stringify(value);

describe('parsePayloadEvent', () => {
  it('reads a payload event', () => {
    expect(parsePayloadEvent(text(valid))).toEqual(valid);
  });

  it.each<[string, string | null]>([
    ['no value', null],
    ['not JSON', '{"v": 1,'],
    ['another version', text({ ...valid, v: 2 })],
    ['no eventId', text({ ...valid, eventId: undefined })],
    ['a webhookId that is not a uuid', text({ ...valid, webhookId: 'hook-1' })],
    ['no tableId', text({ ...valid, tableId: null })],
    ['an actionNum that is not an integer', text({ ...valid, actionNum: '7' })],
    ['a bundleTime that is not an integer', text({ ...valid, bundleTime: 1.5 })],
    ['rows that are not a list', text({ ...valid, rows: {} })],
    // a row a request cannot be built from would fail its webhook's delivery loop every time
    ['a null row', text({ ...valid, rows: [valid.rows[0], null] })],
    ['a row without an integer id', text({ ...valid, rows: [{ ...valid.rows[0], id: '1' }] })],
    ['a row without fields', text({ ...valid, rows: [{ ...valid.rows[0], fields: null }] })],
    ['a value nested 10,000 deep', text({ ...valid, tableId: 'x' }).replace('"x"', `"x","deep":${'['.repeat(10_000)}${']'.repeat(10_000)}`)],
    // JSON.parse reads it as Infinity, which would be sent as null
    ['a row value past the largest double', text({ ...valid, tableId: 'x' }).replace('"x"', '"x","n":{"B":-1e400}')],
    // what Postgres cannot store would fail the whole batch's statement on every retry
    ['a NUL in a row value', text({ ...valid, rows: [{ ...valid.rows[0], fields: { A: 'a\u0000b' } }] })],
    ['an unpaired surrogate in the table id', text({ ...valid, tableId: 'T\ud800' })],
    ['an eventId longer than a key the database can index', text({ ...valid, eventId: `${'d'.repeat(600)}:7:${valid.webhookId}` })],
  ])('rejects %s', (_name, value) => {
    expect(parsePayloadEvent(value)).toBeNull();
  });

  it('reads text that is storable as it is: emoji, surrogate pairs as escapes, escaped backslashes', () => {
    const fields = { A: 'tea \u{1F375}', B: 'a\\u0000' };
    expect(parsePayloadEvent(text({ ...valid, rows: [{ ...valid.rows[0], fields }] }))?.rows[0].fields).toEqual(fields);
    expect(parsePayloadEvent(text({ ...valid, tableId: 'x' }).replace('"x"', '"\\ud83d\\ude00"'))?.tableId).toBe('\u{1F600}');
  });
});
