import { PayloadEvent, PayloadRow } from '../domain';
import { payloadEventEncoder } from './encode-event';

// Required: a field added to PayloadEvent, optional or not, must be set here, and the encoder then must write it
const event = (webhookId: string, rows: PayloadRow[], tableId = 'Orders'): Required<PayloadEvent> => ({
  v: 1,
  eventId: `doc:7:${webhookId}`,
  webhookId,
  docId: 'doc',
  tableId,
  actionNum: 7,
  bundleTime: 1_700_000_000_123,
  rows,
});

describe('payloadEventEncoder', () => {
  const added: PayloadRow = { type: 'add', id: 1, fields: { Item: 'Tea "green"', Qty: 2, Ready: true }, previous: {}, changedColIds: [] };
  const updated: PayloadRow = {
    type: 'update',
    id: 2,
    fields: { Item: 'Café ☕ \u2028', Qty: null, Ref: ['L', 1, 2], manualSort: 2.5 },
    previous: { Qty: 3 },
    changedColIds: ['Qty'],
  };

  it('writes the bytes JSON.stringify writes', () => {
    const encode = payloadEventEncoder();
    for (const e of [event('w1', [added, updated]), event('w2', []), event('w\\"3', [updated], 'Tâble "x"')]) {
      expect(encode(e)).toBe(JSON.stringify(e));
    }
  });

  it('shares rows between events without mixing their own fields', () => {
    const encode = payloadEventEncoder();
    const rows = [added, updated];
    const a = event('w1', rows);
    const b = event('w2', rows);
    const c = event('w3', [updated]);
    const d = { ...event('w4', rows, 'People'), actionNum: 8 };
    expect([a, b, c, d].map(encode)).toEqual([a, b, c, d].map((e) => JSON.stringify(e)));
  });

  it("gives each row's JSON, the same the events hold", () => {
    const encode = payloadEventEncoder();
    expect(encode.row(updated)).toBe(JSON.stringify(updated));
    expect(encode(event('w1', [updated]))).toBe(JSON.stringify(event('w1', [updated])));
  });
});
