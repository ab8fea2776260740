import { PayloadRow } from '../domain';
import { BatchEnd, headAfter, QueuedEvent, takeBatch } from './queue-batch';

const row = (id: number): PayloadRow => ({ type: 'add', id, fields: {}, previous: {}, changedColIds: [] });
/** Events at seq 10, 20, 30, ... with these row ids. */
const queue = (...ids: number[][]): QueuedEvent[] =>
  ids.map((rowIds, i) => ({ seq: 10 * (i + 1), actionNum: i + 1, bundleTime: 1000 + i, tableId: 'T', rows: rowIds.map(row) }));

describe('takeBatch', () => {
  it.each<[string, QueuedEvent[], number, number, BatchEnd | null, number[] | null, BatchEnd | null, boolean]>([
    ['nothing queued', [], 0, 100, null, null, null, false],
    ['one event, all of it', queue([1, 2, 3]), 0, 100, null, [1, 2, 3], { lastSeq: 10, endOffset: 3 }, true],
    ['across events, up to the batch size', queue([1, 2], [3, 4], [5]), 0, 3, null, [1, 2, 3], { lastSeq: 20, endOffset: 1 }, false],
    ['ends exactly at an event end', queue([1, 2], [3, 4], [5]), 0, 4, null, [1, 2, 3, 4], { lastSeq: 20, endOffset: 2 }, true],
    ['starts after the delivered rows of the first event', queue([1, 2, 3], [4]), 2, 100, null, [3, 4], { lastSeq: 20, endOffset: 1 }, true],
    ['250 rows go as 100 + 100 + 50: the second', queue(Array.from({ length: 250 }, (_, i) => i)), 100, 100, null,
      Array.from({ length: 100 }, (_, i) => 100 + i), { lastSeq: 10, endOffset: 200 }, false],
    ['250 rows go as 100 + 100 + 50: the third', queue(Array.from({ length: 250 }, (_, i) => i)), 200, 100, null,
      Array.from({ length: 50 }, (_, i) => 200 + i), { lastSeq: 10, endOffset: 250 }, true],
    ['a retry ends where the first attempt ended, rows queued since left out', queue([1, 2], [3, 4], [5]), 0, 100,
      { lastSeq: 20, endOffset: 1 }, [1, 2, 3], { lastSeq: 20, endOffset: 1 }, false],
    ['a retry inside one event', queue([1, 2, 3, 4]), 1, 100, { lastSeq: 10, endOffset: 3 }, [2, 3], { lastSeq: 10, endOffset: 3 }, false],
    ['a retry is still capped by the batch size', queue([1, 2], [3, 4]), 0, 3, { lastSeq: 20, endOffset: 2 }, [1, 2, 3], { lastSeq: 20, endOffset: 1 }, false],
    ['an event without rows is skipped', queue([1], [], [2]), 0, 100, null, [1, 2], { lastSeq: 30, endOffset: 1 }, true],
  ])('%s', (_name, events, headOffset, batchSize, fixedEnd, ids, end, completesEvent) => {
    const batch = takeBatch(events, headOffset, batchSize, fixedEnd);
    if (ids === null) return expect(batch).toBeNull();
    expect(batch?.rows.map((r) => r.row.id)).toEqual(ids);
    expect(batch?.end).toEqual(end);
    expect(batch?.completesEvent).toBe(completesEvent);
  });

  it('with oneTable (the envelope format), ends before an event of another table', () => {
    const events = queue([1, 2], [3], [4]);
    events[1].tableId = 'Renamed';
    expect(takeBatch(events, 0, 100, null)?.rows.map((r) => r.row.id)).toEqual([1, 2, 3, 4]);
    const batch = takeBatch(events, 0, 100, null, true);
    expect(batch?.rows.map((r) => r.row.id)).toEqual([1, 2]);
    expect(batch?.end).toEqual({ lastSeq: 10, endOffset: 2 });
    expect(batch?.completesEvent).toBe(true);
    expect(takeBatch(events.slice(1), 0, 100, null, true)?.rows.map((r) => r.row.id)).toEqual([3]);
  });

  it('keeps each row with its event: seq, action, bundle time and table', () => {
    const batch = takeBatch(queue([1], [2]), 0, 100, null);
    expect(batch?.rows.map(({ seq, actionNum, bundleTime, tableId }) => ({ seq, actionNum, bundleTime, tableId }))).toEqual([
      { seq: 10, actionNum: 1, bundleTime: 1000, tableId: 'T' },
      { seq: 20, actionNum: 2, bundleTime: 1001, tableId: 'T' },
    ]);
  });
});

describe('headAfter', () => {
  it.each([
    ['a batch that completes its last event', { lastSeq: 20, endOffset: 2 }, true, { deliveredSeq: 20, headOffset: 0 }],
    ['a batch that ends inside its last event', { lastSeq: 20, endOffset: 1 }, false, { deliveredSeq: 19, headOffset: 1 }],
  ])('%s', (_name, end, completesEvent, head) => {
    expect(headAfter({ end, completesEvent })).toEqual(head);
  });

  it('leaves the rest of a partly delivered event first in line for the next batch', () => {
    const events = queue([1, 2], [3, 4], [5]);
    const first = takeBatch(events, 0, 3, null)!;
    const head = headAfter(first);
    const rest = takeBatch(events.filter((e) => e.seq > head.deliveredSeq), head.headOffset, 3, null);
    expect(rest?.rows.map((r) => r.row.id)).toEqual([4, 5]);
  });
});
