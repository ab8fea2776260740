import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { DocChanges, DocStateRepository, StoredDoc } from '../../libs/db/doc-state.repository';
import { ActionBundle, emptySchema, PayloadEvent, payloadEventId } from '../../libs/domain';
import {
  applyBundle,
  DocState,
  keyProblem,
  MAX_BUNDLE_CELLS,
  MAX_EVENT_BYTES,
  parseBundle,
  PayloadEventEncoder,
  payloadEventEncoder,
  rowTooLargeToSend,
  rowsToLoad,
  schemaChanged,
  StoredRow,
} from '../../libs/matching';
import { Logger } from '../../libs/observability';
import { LOGGER } from '../../libs/runtime/core.module';
import { MatcherMetrics } from './matcher.metrics';
import { KnownDocs } from './known-docs';
import { WebhookRulesCache } from './webhook-rules.cache';

/** One message of the doc-actions topic, as the consumer hands it over. */
export interface ActionMessage {
  key: Buffer | null;
  value: Buffer | null;
  /** Kafka timestamp (ms): webhooks created after it do not fire for it. */
  timestamp: number;
  offset: string;
}

export interface DeadLetter {
  message: ActionMessage;
  reason: string;
}

/** What one Kafka batch produced: payload events to publish, messages to dead-letter, state to save. */
export interface MatchedBatch {
  events: PayloadEvent[];
  deadLetters: DeadLetter[];
  docChanges: DocChanges[];
  /** Each document's state once `docChanges` are saved (KnownDocs); documents never saved are not in it. */
  docStates: StoredDoc[];
  /** Encodes the events: it already holds the JSON of their rows, written when their size was checked. */
  encode: PayloadEventEncoder;
  /**
   * The bundles' rows would hold more than MAX_BUNDLE_CELLS at once: the batch was left unfinished and must be
   * matched again in smaller parts (never set for a batch of one message).
   */
  overBudget?: boolean;
}

interface ParsedBundle {
  bundle: ActionBundle;
  timestamp: number;
}

/** What a batch adds to the matcher's counters, added once the batch is matched to its end. */
interface BatchCounts {
  applied: number;
  rowChanges: number;
  duplicates: number;
  gaps: number;
}

/** A document's state while one batch is applied: rows fetched so far, kept between its bundles. */
class DocWorkspace {
  readonly state: DocState;
  /** Row ids whose stored state is known (fetched, absent, written or deleted), per table. */
  private readonly known = new Map<string, Set<number>>();
  private readonly wholeTables = new Set<string>();
  readonly changes: DocChanges;

  constructor(docId: string, stored: { lastActionNum: number; schema: DocState['schema'] } | undefined) {
    this.state = { schema: stored?.schema ?? emptySchema(), rows: new Map() };
    this.changes = {
      docId,
      previousActionNum: stored?.lastActionNum ?? 0,
      lastActionNum: stored?.lastActionNum ?? 0,
      schema: this.state.schema,
      schemaChanged: stored === undefined,
      clearedTables: [],
      rows: new Map(),
    };
  }

  /** The part of `wanted` not already known. */
  missing(wanted: Map<string, number[] | 'all'>): Map<string, number[] | 'all'> {
    const missing = new Map<string, number[] | 'all'>();
    for (const [table, ids] of wanted) {
      if (this.wholeTables.has(table)) continue;
      const known = this.known.get(table);
      const unknown = ids === 'all' ? 'all' : ids.filter((id) => !known?.has(id));
      if (unknown === 'all' || unknown.length > 0) missing.set(table, unknown);
    }
    return missing;
  }

  addFetched(wanted: Map<string, number[] | 'all'>, fetched: Map<string, Map<number, StoredRow>>): void {
    for (const [table, ids] of wanted) {
      const rows = this.tableRows(table);
      const known = this.knownIds(table);
      if (ids === 'all') {
        this.wholeTables.add(table);
        // rows written earlier in this batch are newer than what the database holds
        for (const [id, values] of fetched.get(table) ?? []) if (!known.has(id)) rows.set(id, values);
      } else {
        for (const id of ids) {
          const values = fetched.get(table)?.get(id);
          if (values) rows.set(id, values);
          known.add(id);
        }
      }
    }
  }

  apply(actionNum: number, outcome: ReturnType<typeof applyBundle>): void {
    for (const table of outcome.clearedTables) {
      this.state.rows.set(table, new Map());
      this.wholeTables.add(table);
      this.changes.clearedTables.push(table);
      for (const [key, row] of this.changes.rows) if (row.tableRef === table) this.changes.rows.delete(key);
    }
    for (const { tableRef, rowId, values } of outcome.rowWrites) {
      if (values === null) this.tableRows(tableRef).delete(rowId);
      else this.tableRows(tableRef).set(rowId, values);
      this.knownIds(tableRef).add(rowId);
      this.changes.rows.set(`${tableRef}\u0000${rowId}`, { tableRef, rowId, values });
    }
    if (schemaChanged(this.state.schema, outcome.schema)) this.changes.schemaChanged = true;
    this.state.schema = outcome.schema;
    this.changes.schema = outcome.schema;
    this.changes.lastActionNum = actionNum;
  }

  private tableRows(table: string): Map<number, StoredRow> {
    let rows = this.state.rows.get(table);
    if (!rows) this.state.rows.set(table, (rows = new Map()));
    return rows;
  }

  private knownIds(table: string): Set<number> {
    let ids = this.known.get(table);
    if (!ids) this.known.set(table, (ids = new Set()));
    return ids;
  }
}

/**
 * Applies a batch of bundles to their documents' state and decides the payload events (SPEC sections 2 and 3).
 * Reads each document once and the rows each bundle touches once; writes nothing: the consumer publishes the events
 * first and saves the state after, so a crash in between replays the same bundles into the same events.
 */
@Injectable()
export class BundleProcessor {
  private readonly docs: DocStateRepository;
  private readonly known = new KnownDocs();

  constructor(
    db: DataSource,
    private readonly webhooks: WebhookRulesCache,
    private readonly metrics: MatcherMetrics,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.docs = new DocStateRepository(db);
  }

  async process(messages: ActionMessage[]): Promise<MatchedBatch> {
    const result: MatchedBatch = { events: [], deadLetters: [], docChanges: [], docStates: [], encode: payloadEventEncoder() };
    const byDoc = new Map<string, Array<ParsedBundle & { message: ActionMessage }>>();
    for (const message of messages) {
      const parsed = parseBundle(message.value);
      if (!parsed.ok) {
        result.deadLetters.push({ message, reason: parsed.reason });
        continue;
      }
      const wrongKey = keyProblem(message.key, parsed.bundle.docId);
      if (wrongKey) {
        result.deadLetters.push({ message, reason: wrongKey });
        continue;
      }
      const list = byDoc.get(parsed.bundle.docId) ?? [];
      list.push({ bundle: parsed.bundle, timestamp: message.timestamp, message });
      byDoc.set(parsed.bundle.docId, list);
    }
    if (byDoc.size === 0) return result;
    // the config version is read with the rows when the webhooks may be older than the batch's newest bundle
    const versionReadAt = this.webhooks.mayBeOlderThan(Math.max(...messages.map((m) => m.timestamp))) ? Date.now() : null;
    const { stored, remembered } = await this.startStates([...byDoc.keys()]);
    const workspaces = new Map([...byDoc.keys()].map((docId) => [docId, new DocWorkspace(docId, stored.get(docId))]));
    await this.prefetchRows(workspaces, byDoc, remembered, versionReadAt);
    let cells = 0;
    const counts: BatchCounts = { applied: 0, rowChanges: 0, duplicates: 0, gaps: 0 };
    for (const [docId, bundles] of byDoc) {
      const doc = workspaces.get(docId)!;
      for (const { bundle, timestamp, message } of bundles) {
        cells += await this.applyOne(doc, bundle, timestamp, message, result, counts);
        // every row of the batch is kept until it is saved: a batch of bundles each under the cap could still hold
        // too many (100 bundles of 999 row ids into a table of 1,000 columns exhausted the heap)
        if (cells > MAX_BUNDLE_CELLS && messages.length > 1) return { ...result, overBudget: true };
      }
      const { lastActionNum, previousActionNum, schema } = doc.changes;
      if (lastActionNum !== previousActionNum) result.docChanges.push(doc.changes);
      if (lastActionNum > 0) result.docStates.push({ docId, lastActionNum, schema });
    }
    // counted only now: a batch given up on is matched again in parts, which count its bundles then
    this.metrics.bundlesApplied.inc({}, counts.applied);
    this.metrics.rowChanges.inc({}, counts.rowChanges);
    this.metrics.duplicateBundles.inc({}, counts.duplicates);
    this.metrics.actionNumGaps.inc({}, counts.gaps);
    return result;
  }

  /** Each document's state as this batch was saved, so the next batch of it need not read it (KnownDocs). */
  remember(docStates: StoredDoc[]): void {
    this.known.remember(docStates);
  }

  /** After a failed batch or a rebalance: another instance may have moved any document since. */
  forgetDocs(): void {
    this.known.forgetAll();
  }

  /**
   * The state each document starts the batch from: as this matcher last saved it, or read. `remembered` are those not
   * read, which the read of the rows checks against the database.
   */
  private async startStates(docIds: string[]): Promise<{ stored: Map<string, StoredDoc>; remembered: Set<string> }> {
    const stored = new Map<string, StoredDoc>();
    for (const docId of docIds) {
      const known = this.known.get(docId);
      if (known) stored.set(docId, known);
    }
    const remembered = new Set(stored.keys());
    const unknown = docIds.filter((docId) => !remembered.has(docId));
    if (unknown.length > 0) for (const [docId, doc] of await this.docs.loadDocs(unknown)) stored.set(docId, doc);
    return { stored, remembered };
  }

  /**
   * Reads, in one round trip for the whole batch, the rows its bundles touch as seen from each document's schema
   * before the batch, and the config version when it is due (read after `versionReadAt`; the webhooks are refreshed
   * if it changed). The same read checks the `remembered` documents' actionNums. A bundle after a schema change in
   * the same batch may still need a few more (applyOne).
   */
  private async prefetchRows(
    workspaces: Map<string, DocWorkspace>,
    byDoc: Map<string, ParsedBundle[]>,
    remembered: Set<string>,
    versionReadAt: number | null,
  ): Promise<void> {
    const wanted = new Map<string, Map<string, number[] | 'all'>>();
    for (const [docId, bundles] of byDoc) {
      const doc = workspaces.get(docId)!;
      const union = new Map<string, Set<number> | 'all'>();
      for (const { bundle } of bundles) {
        if (bundle.actionNum <= doc.changes.previousActionNum) continue;
        for (const [table, ids] of rowsToLoad(doc.state.schema, bundle.actions)) {
          const known = union.get(table);
          if (known === 'all') continue;
          if (ids === 'all') union.set(table, 'all');
          else union.set(table, new Set([...(known ?? []), ...ids]));
        }
      }
      const missing = doc.missing(new Map([...union].map(([t, ids]) => [t, ids === 'all' ? 'all' : [...ids]])));
      if (missing.size > 0) wanted.set(docId, missing);
    }
    if (wanted.size === 0 && remembered.size === 0 && versionReadAt === null) return;
    const checked = new Set([...wanted.keys(), ...remembered]);
    const asOf = new Map([...checked].map((docId) => [docId, workspaces.get(docId)!.changes.previousActionNum]));
    const fetched = await this.docs.loadRows(wanted, asOf, { configVersion: versionReadAt !== null });
    if (fetched.configVersion !== undefined) await this.webhooks.confirmVersion(fetched.configVersion, versionReadAt!);
    for (const [docId, tables] of wanted) workspaces.get(docId)!.addFetched(tables, fetched.rows.get(docId) ?? new Map());
  }

  private async applyOne(
    doc: DocWorkspace,
    bundle: ActionBundle,
    timestamp: number,
    message: ActionMessage,
    result: MatchedBatch,
    counts: BatchCounts,
  ): Promise<number> {
    const { docId, actionNum } = bundle;
    const last = doc.changes.lastActionNum;
    if (actionNum <= last) {
      counts.duplicates++;
      return 0;
    }
    if (last > 0 && actionNum > last + 1) counts.gaps++;

    const wanted = doc.missing(rowsToLoad(doc.state.schema, bundle.actions));
    if (wanted.size > 0) {
      const fetched = await this.docs.loadRows(new Map([[docId, wanted]]), new Map([[docId, doc.changes.previousActionNum]]));
      doc.addFetched(wanted, fetched.rows.get(docId) ?? new Map());
    }

    let outcome;
    try {
      outcome = applyBundle(doc.state, bundle, this.webhooks.forDoc(docId), timestamp);
    } catch (err) {
      // a bundle the rules cannot apply leaves the state as it was and goes to the DLQ like any bad input
      result.deadLetters.push({ message, reason: `cannot apply bundle: ${(err as Error).message}` });
      return 0;
    }
    const events = outcome.events.map(
      (e): PayloadEvent => ({
        v: 1,
        eventId: payloadEventId(docId, actionNum, e.webhookId),
        webhookId: e.webhookId,
        docId,
        tableId: e.tableId,
        actionNum,
        bundleTime: timestamp,
        rows: e.rows,
      }),
    );
    // A row that cannot go even alone in one message would be refused on every retry of the batch (a row grows with
    // each bundle that writes it, past any one message): the bundle that fires it is refused instead, before it
    // changes the state.
    for (const event of events) {
      const rowId = rowTooLargeToSend(event, result.encode.row, MAX_EVENT_BYTES);
      if (rowId === undefined) continue;
      const reason = `cannot apply bundle: row ${rowId} of table ${JSON.stringify(event.tableId.slice(0, 100))} would be sent as more than ${MAX_EVENT_BYTES} bytes`;
      result.deadLetters.push({ message, reason });
      return 0;
    }
    doc.apply(actionNum, outcome);
    counts.applied++;
    counts.rowChanges += outcome.rowWrites.length;
    result.events.push(...events);
    if (outcome.events.length > 0) {
      this.logger.debug('bundle matched', { docId, actionNum, webhooks: outcome.events.map((e) => e.webhookId) });
    }
    return outcome.cells;
  }
}
