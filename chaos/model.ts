/**
 * The chaos run's own model of documents and of SPEC section 3, written independently of the engine: it generates
 * action bundles and records, per webhook, which rows must be delivered and in which order.
 *
 * To keep expectations easy to compute, every row a bundle adds or updates gets `Tag = actionNum` (except a
 * deliberate same-value rewrite, which must fire nothing), so a delivered row is identified by (id, Tag) in the
 * Grist format and by (type, id, actionNum) in the envelope format.
 */

export type Cell = string | number | boolean | null;

/** The webhook kinds used: their expectations follow directly from SPEC section 3's table. */
export type HookKind = 'plain' | 'watched' | 'ready' | 'remove';
export const HOOK_KINDS: HookKind[] = ['plain', 'watched', 'ready', 'remove'];

/** Stable column keys of the model; the column's current name may change (RenameColumn). */
interface ColumnModel {
  key: string;
  name: string;
  type: string;
}

interface TableModel {
  name: string;
  columns: ColumnModel[];
  /** rowId -> values by column key. */
  rows: Map<number, Record<string, Cell>>;
  nextRowId: number;
}

export interface ExpectedRow {
  /** `<id>@<actionNum>` for add/update; `remove:<id>@<actionNum>` for remove. */
  key: string;
  type: 'add' | 'update' | 'remove';
  id: number;
  actionNum: number;
  /** The row as it must be delivered, keyed by the column names current after the bundle. */
  fields: Record<string, Cell>;
  /** When the bundle's publication started (a webhook toggled before that must fire for it). */
  sentAt: number;
  /** Set later when a clear or disable makes the row's loss legitimate. */
  optional?: boolean;
}

export interface ModelHook {
  name: string;
  docId: string;
  kind: HookKind;
  /** The engine's webhook id, once created. */
  id?: string;
  expected: ExpectedRow[];
}

export type DocAction = unknown[];

export interface Bundle {
  docId: string;
  actionNum: number;
  userActions: unknown[];
  actions: DocAction[];
}

const defaultFor = (type: string): Cell => {
  switch (type.split(':')[0]) {
    case 'Text':
    case 'Choice':
      return '';
    case 'Numeric':
    case 'Int':
    case 'Ref':
      return 0;
    case 'Bool':
      return false;
    default:
      return null;
  }
};

/** Which key of a touched row: its state before the bundle (undefined = did not exist) and whether it was added. */
interface Touch {
  before: Record<string, Cell> | undefined;
  added: boolean;
}

/** One document with one watched table, the webhooks on it, and the bundles generated so far. */
export class DocModel {
  readonly table: TableModel;
  actionNum = 0;
  readonly hooks: ModelHook[] = [];
  /** Bundles already published, for re-sending one as a publisher's duplicate. */
  readonly published: Bundle[] = [];
  private nextColumn = 1;
  private renames = 0;
  private foreignTables = 0;

  constructor(
    readonly docId: string,
    private readonly random: () => number,
  ) {
    this.table = {
      name: `Orders_${docId.replace(/[^A-Za-z0-9]/g, '_')}`,
      columns: [
        { key: 'tag', name: 'Tag', type: 'Int' },
        { key: 'a', name: 'A', type: 'Numeric' },
        { key: 'b', name: 'B', type: 'Text' },
        { key: 'ready', name: 'Ready', type: 'Bool' },
      ],
      rows: new Map(),
      nextRowId: 1,
    };
  }

  colName(key: string): string {
    return this.table.columns.find((c) => c.key === key)!.name;
  }

  /** The first bundle: declares the table, so webhooks can be created on it. */
  creationBundle(): Bundle {
    this.actionNum = 1;
    const columns = this.table.columns.map((c) => ({ id: c.name, type: c.type, isFormula: false, formula: '' }));
    const bundle: Bundle = { docId: this.docId, actionNum: 1, userActions: [], actions: [['AddTable', this.table.name, columns]] };
    this.published.push(bundle);
    return bundle;
  }

  /** API fields of a webhook of `kind` on this document's table. */
  hookFields(kind: HookKind, url: string, name: string): Record<string, unknown> {
    const base = { url, name, tableId: this.table.name, eventTypes: ['add', 'update'] };
    switch (kind) {
      case 'plain':
        return base;
      case 'watched':
        return { ...base, watchedColIds: [this.colName('a')] };
      case 'ready':
        return { ...base, isReadyColumn: this.colName('ready') };
      case 'remove':
        return { ...base, eventTypes: ['add', 'update', 'remove'], payloadFormat: 'envelope' };
    }
  }

  /** Generates the next bundle and applies it to the model; `commit` then records what each webhook must receive. */
  nextBundle(): Bundle {
    const actionNum = ++this.actionNum;
    this.pendingTouched = null;
    const x = this.random();
    let actions: DocAction[];
    if (x < 0.03) actions = this.schemaChange();
    else if (x < 0.05) actions = this.foreignTableData();
    else actions = this.rowChanges(actionNum);
    const bundle: Bundle = { docId: this.docId, actionNum, userActions: [], actions };
    this.published.push(bundle);
    return bundle;
  }

  private record(actionNum: number, touched: Map<number, Touch>, sentAt: number): void {
    const ids = [...touched.keys()].sort((a, b) => a - b);
    for (const hook of this.hooks) {
      for (const id of ids) {
        const row = this.expectedFor(hook.kind, id, touched.get(id)!, actionNum, sentAt);
        if (row) hook.expected.push(row);
      }
    }
  }

  /** SPEC section 3, for the four kinds of webhook used here. */
  private expectedFor(kind: HookKind, id: number, touch: Touch, actionNum: number, sentAt: number): ExpectedRow | undefined {
    const after = this.table.rows.get(id);
    const { before, added } = touch;
    const fields = (values: Record<string, Cell>): Record<string, Cell> =>
      Object.fromEntries(this.table.columns.map((c) => [c.name, values[c.key] ?? defaultFor(c.type)]));
    const make = (type: ExpectedRow['type'], values: Record<string, Cell>): ExpectedRow => ({
      key: type === 'remove' ? `remove:${id}@${actionNum}` : `${id}@${actionNum}`,
      type,
      id,
      actionNum,
      fields: { id, ...fields(values) },
      sentAt,
    });
    if (after === undefined) {
      // removed (an added-then-removed row fires nothing; a row never seen before cannot be removed here)
      if (kind !== 'remove' || added || before === undefined) return undefined;
      return make('remove', before);
    }
    if (added) {
      if (kind === 'ready' && after.ready !== true) return undefined;
      return make('add', after);
    }
    const changed = this.table.columns.filter((c) => !sameCell(before?.[c.key] ?? defaultFor(c.type), after[c.key] ?? defaultFor(c.type)));
    switch (kind) {
      case 'plain':
      case 'remove':
        return changed.length > 0 ? make('update', after) : undefined;
      case 'watched':
        return changed.some((c) => c.key === 'a') ? make('update', after) : undefined;
      case 'ready':
        if (after.ready !== true) return undefined;
        if (before?.ready !== true) return make('add', after);
        return changed.length > 0 ? make('update', after) : undefined;
    }
  }

  private pick<T>(items: T[]): T {
    return items[Math.floor(this.random() * items.length)];
  }

  private liveIds(): number[] {
    return [...this.table.rows.keys()];
  }

  /** Some adds, updates, ready toggles, removals; each row is touched by one operation of the bundle. */
  private rowChanges(actionNum: number): DocAction[] {
    const t = this.table;
    const actions: DocAction[] = [];
    const touched = new Map<number, Touch>();
    const touch = (id: number, added: boolean): void => {
      if (!touched.has(id)) touched.set(id, { before: t.rows.has(id) ? { ...t.rows.get(id)! } : undefined, added });
    };
    const free = (): number[] => this.liveIds().filter((id) => !touched.has(id));
    const named = (values: Record<string, Cell>): Record<string, Cell> =>
      Object.fromEntries(Object.entries(values).map(([key, v]) => [this.colName(key), v]));
    const ops = 1 + Math.floor(this.random() * 3);
    for (let i = 0; i < ops; i++) {
      const live = free();
      const y = this.random();
      const tooMany = live.length > 25;
      if (live.length === 0 || (!tooMany && y < 0.3)) {
        // add 1-3 rows; sometimes leave B or Ready out (they take the type's default)
        const count = 1 + Math.floor(this.random() * 3);
        const ids: number[] = [];
        const rows: Array<Record<string, Cell>> = [];
        for (let k = 0; k < count; k++) {
          const id = t.nextRowId++;
          const values: Record<string, Cell> = { tag: actionNum, a: Math.floor(this.random() * 100) };
          if (this.random() < 0.8) values.b = `note-${id}-${actionNum}`;
          if (this.random() < 0.8) values.ready = this.random() < 0.6;
          touch(id, true);
          t.rows.set(id, this.complete(values));
          ids.push(id);
          rows.push(values);
        }
        if (count === 1 && this.random() < 0.5) {
          actions.push(['AddRecord', t.name, ids[0], named(rows[0])]);
        } else {
          // a bulk add: every row gets every column it names (missing ones are sent as the defaults)
          const keys = ['tag', 'a', 'b', 'ready'];
          const cols = Object.fromEntries(keys.map((key) => [this.colName(key), ids.map((id) => t.rows.get(id)![key])]));
          actions.push(['BulkAddRecord', t.name, ids, cols]);
        }
        if (this.random() < 0.1) {
          // added, then changed in the same bundle: counts as added, with its final values
          const id = ids[0];
          const a = Math.floor(this.random() * 100) + 1000;
          t.rows.get(id)!.a = a;
          actions.push(['UpdateRecord', t.name, id, { [this.colName('a')]: a }]);
        } else if (this.random() < 0.05) {
          // added, then removed in the same bundle: fires nothing
          const id = ids[ids.length - 1];
          t.rows.delete(id);
          actions.push(['RemoveRecord', t.name, id]);
        }
      } else if (tooMany || y < 0.4) {
        const id = this.pick(live);
        touch(id, false);
        t.rows.delete(id);
        actions.push(['RemoveRecord', t.name, id]);
      } else if (y < 0.6) {
        // watched column (and Tag) changes, one or several rows
        const ids = live.slice(0, 1 + Math.floor(this.random() * Math.min(3, live.length)));
        const as = ids.map((id) => (t.rows.get(id)!.a as number) + 1 + Math.floor(this.random() * 5));
        ids.forEach((id, k) => {
          touch(id, false);
          Object.assign(t.rows.get(id)!, { tag: actionNum, a: as[k] });
        });
        if (ids.length === 1) actions.push(['UpdateRecord', t.name, ids[0], { [this.colName('tag')]: actionNum, [this.colName('a')]: as[0] }]);
        else actions.push(['BulkUpdateRecord', t.name, ids, { [this.colName('tag')]: ids.map(() => actionNum), [this.colName('a')]: as }]);
      } else if (y < 0.75) {
        // unwatched column (and Tag) changes
        const id = this.pick(live);
        touch(id, false);
        const b = `note-${id}-${actionNum}`;
        Object.assign(t.rows.get(id)!, { tag: actionNum, b });
        actions.push(['UpdateRecord', t.name, id, { [this.colName('tag')]: actionNum, [this.colName('b')]: b }]);
      } else if (y < 0.93) {
        // ready toggles
        const id = this.pick(live);
        touch(id, false);
        const ready = t.rows.get(id)!.ready !== true;
        Object.assign(t.rows.get(id)!, { tag: actionNum, ready });
        actions.push(['UpdateRecord', t.name, id, { [this.colName('tag')]: actionNum, [this.colName('ready')]: ready }]);
      } else {
        // a rewrite of the same values: not a change, fires nothing
        const id = this.pick(live);
        touch(id, false);
        const row = t.rows.get(id)!;
        actions.push(['UpdateRecord', t.name, id, named({ tag: row.tag, a: row.a, b: row.b })]);
      }
    }
    this.pendingTouched = { actionNum, touched };
    return actions;
  }

  private pendingTouched: { actionNum: number; touched: Map<number, Touch> } | null = null;

  /** Records the expectations of the last generated bundle (called once its publication started). */
  commit(sentAt: number): void {
    if (this.pendingTouched) this.record(this.pendingTouched.actionNum, this.pendingTouched.touched, sentAt);
    this.pendingTouched = null;
  }

  private complete(values: Record<string, Cell>): Record<string, Cell> {
    const row: Record<string, Cell> = {};
    for (const c of this.table.columns) row[c.key] = Object.hasOwn(values, c.key) ? values[c.key] : defaultFor(c.type);
    return row;
  }

  /** Renames (table, watched, unwatched or ready column) and an extra column added or removed. Fires nothing. */
  private schemaChange(): DocAction[] {
    const t = this.table;
    const n = ++this.renames;
    const y = this.random();
    if (y < 0.25) {
      const old = t.name;
      t.name = `${old.replace(/_r\d+$/, '')}_r${n}`;
      return [['RenameTable', old, t.name]];
    }
    if (y < 0.6) {
      const key = this.pick(['a', 'b', 'ready']);
      const col = t.columns.find((c) => c.key === key)!;
      const old = col.name;
      col.name = `${old.replace(/_r\d+$/, '')}_r${n}`;
      return [['RenameColumn', t.name, old, col.name]];
    }
    const extra = t.columns.find((c) => c.key.startsWith('x'));
    if (extra && y < 0.8) {
      t.columns = t.columns.filter((c) => c !== extra);
      for (const row of t.rows.values()) delete row[extra.key];
      return [['RemoveColumn', t.name, extra.name]];
    }
    const col: ColumnModel = { key: `x${this.nextColumn}`, name: `Extra${this.nextColumn}`, type: this.pick(['Numeric', 'Text', 'Bool', 'Date']) };
    this.nextColumn++;
    t.columns.push(col);
    for (const row of t.rows.values()) row[col.key] = defaultFor(col.type);
    return [['AddColumn', t.name, col.name, { type: col.type, isFormula: false, formula: '' }]];
  }

  /** Data for a table nobody declared: valid (declared implicitly), and no webhook watches it. */
  private foreignTableData(): DocAction[] {
    const n = ++this.foreignTables;
    return [['AddRecord', `Side_${n % 3}`, n, { Note: `side ${n}`, Big: 'x'.repeat(this.random() < 0.2 ? 20_000 : 10) }]];
  }
}

function sameCell(a: Cell, b: Cell): boolean {
  return a === b;
}
