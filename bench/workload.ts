/**
 * The bench's data: documents of TABLES_PER_DOC tables, webhooks of five kinds spread over the tables, and bundles
 * of row changes (adds, value updates, Ready toggles) generated deterministically from a seed. Column T of every row
 * written holds the publish time (ms), so the receiver can compute the end-to-end latency of each row.
 */
import { Message } from 'kafkajs';
import { prng } from '../libs/testing/prng';

export const TABLES_PER_DOC = 5;
export const COLUMNS = [
  { id: 'Name', type: 'Text' },
  { id: 'B', type: 'Numeric' },
  { id: 'C', type: 'Numeric' },
  { id: 'T', type: 'Numeric' },
  { id: 'Ready', type: 'Bool' },
];

export const WEBHOOK_KINDS = ['plain', 'ready', 'watched', 'add-only', 'update-only'] as const;
export type WebhookKind = (typeof WEBHOOK_KINDS)[number];

export interface WebhookSpec {
  index: number;
  docId: string;
  tableId: string;
  kind: WebhookKind;
}

export const docIds = (count: number): string[] => Array.from({ length: count }, (_, i) => `doc${String(i + 1).padStart(5, '0')}`);
const tableId = (i: number): string => `Table${i + 1}`;

/**
 * Webhook i goes to table i mod (docs × tables); its kind shifts by one on each pass over the tables, so every table
 * gets a mix of kinds when there are more webhooks than tables.
 */
export function webhookSpecs(docs: string[], count: number): WebhookSpec[] {
  const tables = docs.length * TABLES_PER_DOC;
  return Array.from({ length: count }, (_, index) => {
    const t = index % tables;
    return {
      index,
      docId: docs[Math.floor(t / TABLES_PER_DOC)],
      tableId: tableId(t % TABLES_PER_DOC),
      kind: WEBHOOK_KINDS[(index + Math.floor(index / tables)) % WEBHOOK_KINDS.length],
    };
  });
}

/** The fields of POST /api/docs/:docId/webhooks for one webhook. */
export function webhookFields(spec: WebhookSpec, baseUrl: string): Record<string, unknown> {
  const fields: Record<string, unknown> = {
    url: `${baseUrl}/w/${spec.index}`,
    tableId: spec.tableId,
    name: `bench-${spec.index}-${spec.kind}`,
    eventTypes: spec.kind === 'add-only' ? ['add'] : spec.kind === 'update-only' ? ['update'] : ['add', 'update'],
  };
  if (spec.kind === 'ready') fields.isReadyColumn = 'Ready';
  if (spec.kind === 'watched') fields.watchedColIds = ['B'];
  return fields;
}

interface TableState {
  /** Ready value of each row, index = rowId - 1 (rows are never removed). */
  ready: boolean[];
}

export class Workload {
  private readonly random: () => number;
  private readonly actionNums = new Map<string, number>();
  private readonly tables = new Map<string, TableState>();
  private cursor = 0;
  bundles = 0;

  constructor(
    readonly docs: string[],
    readonly bundleRows: number,
    seed = 42,
  ) {
    this.random = prng(seed);
  }

  private message(docId: string, actions: unknown[]): Message {
    const actionNum = (this.actionNums.get(docId) ?? 0) + 1;
    this.actionNums.set(docId, actionNum);
    return { key: docId, value: JSON.stringify({ docId, actionNum, userActions: [], actions }) };
  }

  /** One AddTable bundle per document; the matcher must apply them before webhooks can name the tables. */
  declareBundles(): Message[] {
    return this.docs.map((docId) =>
      this.message(
        docId,
        Array.from({ length: TABLES_PER_DOC }, (_, t) => ['AddTable', tableId(t), COLUMNS.map((c) => ({ ...c, isFormula: false, formula: '' }))]),
      ),
    );
  }

  /**
   * The next bundle: documents in turn, a random table; `bundleRows` distinct rows, 30-50% added (all while the table
   * is small), the rest updated: B or C changed (half the bundles each, so watched-column webhooks fire on some), or
   * Ready toggled. T = `publishedAt` on every row written.
   */
  nextBundle(publishedAt: number): Message {
    const docId = this.docs[this.cursor++ % this.docs.length];
    const table = tableId(Math.floor(this.random() * TABLES_PER_DOC));
    const key = `${docId}/${table}`;
    let state = this.tables.get(key);
    if (!state) this.tables.set(key, (state = { ready: [] }));
    const n = this.bundleRows;
    const live = state.ready.length;
    const adds = live < n ? n : Math.max(1, Math.round(n * (0.3 + 0.2 * this.random())));
    const updates = n - adds;
    const actions: unknown[] = [];

    const addIds = Array.from({ length: adds }, (_, i) => live + i + 1);
    const addReady = addIds.map(() => this.random() < 0.5);
    actions.push([
      'BulkAddRecord',
      table,
      addIds,
      {
        Name: addIds.map((id) => `row ${id}`),
        B: addIds.map(() => this.value()),
        C: addIds.map(() => this.value()),
        T: addIds.map(() => publishedAt),
        Ready: addReady,
      },
    ]);
    state.ready.push(...addReady);

    if (updates > 0) {
      const picked = new Set<number>();
      while (picked.size < updates) picked.add(1 + Math.floor(this.random() * live));
      const ids = [...picked].sort((a, b) => a - b);
      const toggles = Math.round(updates * 0.3);
      const toggled = ids.slice(0, toggles);
      const changed = ids.slice(toggles);
      if (changed.length > 0) {
        const col = this.random() < 0.5 ? 'B' : 'C';
        actions.push(['BulkUpdateRecord', table, changed, { [col]: changed.map(() => this.value()), T: changed.map(() => publishedAt) }]);
      }
      if (toggled.length > 0) {
        const ready = toggled.map((id) => !state.ready[id - 1]);
        toggled.forEach((id, i) => (state.ready[id - 1] = ready[i]));
        actions.push(['BulkUpdateRecord', table, toggled, { Ready: ready, T: toggled.map(() => publishedAt) }]);
      }
    }
    this.bundles += 1;
    return this.message(docId, actions);
  }

  /** Sum of every document's last actionNum: what the docs table holds once the matcher saved every bundle. */
  actionNumTotal(): number {
    let total = 0;
    for (const n of this.actionNums.values()) total += n;
    return total;
  }

  bundlesFor(count: number): Message[] {
    const now = Date.now();
    return Array.from({ length: count }, () => this.nextBundle(now));
  }

  private value(): number {
    return Math.round(this.random() * 100_000) / 100;
  }
}

/** A request body as the dispatcher sends it (Grist format: an array of `{id, ...columns}`), of `rows` rows. */
export function sampleBody(rows: number): string {
  const now = Date.now();
  return JSON.stringify(
    Array.from({ length: rows }, (_, i) => ({ id: i + 1, Name: `row ${i + 1}`, B: 12.5 + i, C: 1000 - i, T: now, Ready: i % 2 === 0 })),
  );
}
