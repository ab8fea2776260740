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
  ])('rejects %s', (_name, value) => {
    expect(parsePayloadEvent(value)).toBeNull();
  });
});
