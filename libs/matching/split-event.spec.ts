import { PayloadEvent, PayloadRow } from '../domain';
import { rowTooLargeToSend, splitPayloadEvent } from './split-event';

const row = (id: number, text = 'x'): PayloadRow => ({ type: 'add', id, fields: { Name: text }, previous: {}, changedColIds: [] });

const event = (rows: PayloadRow[]): PayloadEvent => ({
  v: 1,
  eventId: 'doc:7:hook',
  webhookId: 'hook',
  docId: 'doc',
  tableId: 'Orders',
  actionNum: 7,
  bundleTime: 1000,
  rows,
});

const bytes = (e: PayloadEvent): number => Buffer.byteLength(JSON.stringify(e));

describe('splitPayloadEvent', () => {
  it('leaves an event under the limit whole', () => {
    const e = event([row(1), row(2)]);
    expect(splitPayloadEvent(e, 10_000)).toEqual([e]);
  });

  it('cuts the rows in order into parts under the limit; part k > 1 has its own id', () => {
    const e = event(Array.from({ length: 100 }, (_, i) => row(i + 1, 'é'.repeat(50))));
    const limit = 2000;
    const parts = splitPayloadEvent(e, limit);
    expect(parts.length).toBeGreaterThan(3);
    for (const p of parts) expect(bytes(p)).toBeLessThanOrEqual(limit);
    expect(parts.flatMap((p) => p.rows)).toEqual(e.rows);
    expect(parts.map((p) => p.eventId)).toEqual(['doc:7:hook', ...parts.slice(1).map((_, i) => `doc:7:hook:part${i + 2}`)]);
    for (const p of parts) expect({ ...p, eventId: '', rows: [] }).toEqual({ ...e, eventId: '', rows: [] });
  });

  it('sends a row larger than the limit alone', () => {
    const parts = splitPayloadEvent(event([row(1), row(2, 'y'.repeat(500)), row(3)]), 300);
    expect(parts.map((p) => p.rows.map((r) => r.id))).toEqual([[1], [2], [3]]);
  });

  it('is the same on every run, so a bundle matched again gives the same parts', () => {
    const e = event(Array.from({ length: 40 }, (_, i) => row(i, 'z'.repeat(i))));
    expect(splitPayloadEvent(e, 700)).toEqual(splitPayloadEvent(e, 700));
  });
});

describe('rowTooLargeToSend', () => {
  const json = (r: PayloadRow): string => JSON.stringify(r);

  it('finds none while every row fits alone in a message with the envelope', () => {
    const e = event([row(1, 'a'.repeat(400)), row(2, 'é'.repeat(100))]);
    const alone = bytes(event([e.rows[0]])) + ':part2'.length;
    expect(rowTooLargeToSend(e, json, alone)).toBeUndefined();
    expect(rowTooLargeToSend(event([]), json, 10)).toBeUndefined();
  });

  it('names a row that would not fit even alone, counting bytes, not characters', () => {
    // 300 characters, 900 bytes: by characters row 2 is the largest, by bytes row 3 is
    const e = event([row(1), row(2, 'a'.repeat(500)), row(3, '€'.repeat(300)), row(4)]);
    expect(rowTooLargeToSend(e, json, bytes(event([e.rows[1]])) + 10)).toBe(3);
  });

  it('counts the envelope, a long table id included', () => {
    const e = { ...event([row(1, 'a'.repeat(100))]), tableId: 'T'.repeat(1000) };
    expect(rowTooLargeToSend(e, json, 1000)).toBe(1);
    expect(rowTooLargeToSend(e, json, bytes(e) + 10)).toBeUndefined();
  });
});
