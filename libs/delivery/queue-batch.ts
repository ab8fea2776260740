import { PayloadRow } from '../domain';
import { BatchRow } from './payload-body';

/** A payload event waiting in a webhook's queue (one queue entry per event, its rows in order). */
export interface QueuedEvent {
  seq: number;
  actionNum: number;
  bundleTime: number;
  tableId: string;
  rows: PayloadRow[];
}

/** A row of a batch, with the queue position it came from. */
export interface QueuedRow extends BatchRow {
  seq: number;
  bundleTime: number;
}

/**
 * Where a batch ends: the last event it takes rows from, and the end (exclusive) of the rows it takes from that
 * event. A batch that ends inside an event leaves the rest of the event at the head of the queue.
 */
export interface BatchEnd {
  lastSeq: number;
  endOffset: number;
}

export interface Batch {
  rows: QueuedRow[];
  end: BatchEnd;
  /** The last event's rows are all in this batch or an earlier one: delivering it delivers the event. */
  completesEvent: boolean;
}

/**
 * The head batch of a queue (SPEC section 4): the oldest rows, from `headOffset` of the first event (rows before it
 * were delivered), at most `batchSize`, across events. A batch already tried (`fixedEnd`) ends where it ended, so a
 * retry sends the same rows. With `oneTable` (the envelope format, which names one table for all its rows) a batch
 * also ends before an event of another table: a PATCH of `tableId` or a RenameTable while rows wait. Null when
 * nothing waits.
 */
export function takeBatch(
  events: QueuedEvent[],
  headOffset: number,
  batchSize: number,
  fixedEnd: BatchEnd | null,
  oneTable = false,
): Batch | null {
  const rows: QueuedRow[] = [];
  let end: BatchEnd | null = null;
  let completesEvent = false;
  for (const [i, event] of events.entries()) {
    if (fixedEnd && event.seq > fixedEnd.lastSeq) break;
    if (oneTable && rows.length > 0 && event.tableId !== rows[0].tableId) break;
    const from = i === 0 ? headOffset : 0;
    const until = fixedEnd?.lastSeq === event.seq ? Math.min(fixedEnd.endOffset, event.rows.length) : event.rows.length;
    const to = Math.min(until, from + batchSize - rows.length);
    if (to <= from) continue;
    for (let offset = from; offset < to; offset++) {
      const { seq, actionNum, bundleTime, tableId } = event;
      rows.push({ seq, actionNum, bundleTime, tableId, row: event.rows[offset] });
    }
    end = { lastSeq: event.seq, endOffset: to };
    completesEvent = to === event.rows.length;
    if (rows.length === batchSize) break;
  }
  return end ? { rows, end, completesEvent } : null;
}

/** Where a queue's head is: events up to `deliveredSeq` are delivered, and `headOffset` rows of the next one. */
export interface QueueHead {
  deliveredSeq: number;
  headOffset: number;
}

/**
 * The head once a batch is delivered. A batch that ends inside an event delivers the events before it and that
 * event's rows up to the batch's end. Seqs are shared by every queue, so `lastSeq - 1` may be another webhook's: it
 * only bounds this queue's reads, which start after it.
 */
export const headAfter = ({ end, completesEvent }: Pick<Batch, 'end' | 'completesEvent'>): QueueHead =>
  completesEvent ? { deliveredSeq: end.lastSeq, headOffset: 0 } : { deliveredSeq: end.lastSeq - 1, headOffset: end.endOffset };
