/**
 * Compares what each webhook had to receive (the model's expectations) with what its receiver answered 2xx to.
 */
import { ExpectedRow, ModelHook } from './model';
import { Delivery } from './receivers';

/** A clear or a disable of one webhook: from `from` (request sent) to `to` (answered; re-enabled for a disable). */
export interface LossWindow {
  hook: string;
  what: string;
  from: number;
  to: number;
  /** For a disable: from the disable's answer to the enable's request, nothing may fire (SPEC section 3). */
  silent?: { from: number; to: number };
}

export interface Fault {
  name: string;
  /** When the fault was over (the process healthy again, the broker answering, ...). */
  endedAt: number;
  note?: string;
}

export interface HookResult {
  name: string;
  id: string;
  expected: number;
  optional: number;
  /** Optional rows (cleared or disabled) that were delivered all the same. */
  optionalDelivered: number;
  delivered: number;
  lost: string[];
  duplicates: number;
  /** A few duplicates: which row, when first and when again. */
  duplicateExamples: string[];
  unexpected: string[];
  orderViolations: string[];
  mismatches: string[];
  /** Rows of bundles appended while the webhook was disabled, delivered all the same. */
  firedWhileDisabled: string[];
}

export interface CheckResult {
  hooks: HookResult[];
  totals: {
    expected: number;
    required: number;
    optional: number;
    optionalDelivered: number;
    delivered: number;
    lost: number;
    duplicates: number;
    unexpected: number;
    orderViolations: number;
    mismatches: number;
    firedWhileDisabled: number;
  };
  recoveries: Array<{ fault: string; firstMs: number | null; allDocsMs: number | null; note?: string }>;
}

/** The keys of the rows one delivery carries, with their content (Grist format: `<id>@<Tag>`; envelope: typed). */
function rowsOf(body: unknown): Array<{ key: string; fields: Record<string, unknown>; type?: string }> {
  if (Array.isArray(body)) {
    return body.map((row: Record<string, unknown>) => ({ key: `${String(row?.id)}@${String(row?.Tag)}`, fields: row ?? {} }));
  }
  const events = (body as { events?: unknown } | null)?.events;
  if (!Array.isArray(events)) return [{ key: `<unreadable body ${JSON.stringify(body)?.slice(0, 80)}>`, fields: {} }];
  return events.map((e: { type?: string; id?: unknown; actionNum?: unknown; fields?: Record<string, unknown> }) => ({
    key: `${e.type === 'remove' ? 'remove:' : ''}${String(e.id)}@${String(e.actionNum)}`,
    fields: { id: e.id, ...(e.fields ?? {}) },
    type: e.type,
  }));
}

function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

const clock = (t: number | undefined): string => (t === undefined ? '?' : new Date(t).toISOString().slice(11, 23));

const describe = (row: ExpectedRow): string => `${row.type} row ${row.id} of bundle ${row.actionNum}`;

export function check(hooks: ModelHook[], deliveries: Delivery[], windows: LossWindow[], faults: Fault[]): CheckResult {
  const byHook = new Map<string, Delivery[]>();
  for (const d of deliveries) {
    const list = byHook.get(d.hook) ?? [];
    list.push(d);
    byHook.set(d.hook, list);
  }
  /** First delivery time of each expected row, per hook (for recovery times). */
  const firstDelivered: Array<{ at: number; row: ExpectedRow; docId: string }> = [];
  const results: HookResult[] = [];
  for (const hook of hooks) {
    const received = (byHook.get(hook.name) ?? []).sort((a, b) => a.at - b.at);
    const index = new Map(hook.expected.map((row, i) => [row.key, i]));
    const seen = new Map<string, number>();
    const firstAt = new Map<string, number>();
    const result: HookResult = {
      name: hook.name,
      id: hook.id ?? '?',
      expected: hook.expected.length,
      optional: 0,
      optionalDelivered: 0,
      delivered: 0,
      lost: [],
      duplicates: 0,
      duplicateExamples: [],
      unexpected: [],
      orderViolations: [],
      mismatches: [],
      firedWhileDisabled: [],
    };
    let highest = -1;
    for (const delivery of received) {
      for (const got of rowsOf(delivery.body)) {
        const times = (seen.get(got.key) ?? 0) + 1;
        seen.set(got.key, times);
        if (times > 1) {
          result.duplicates++;
          const first = firstAt.get(got.key);
          if (result.duplicateExamples.length < 50) {
            result.duplicateExamples.push(`${got.key} at ${clock(first)} and ${clock(delivery.at)}`);
          }
          continue;
        }
        const i = index.get(got.key);
        if (i === undefined) {
          result.unexpected.push(got.key);
          continue;
        }
        const want = hook.expected[i];
        firstAt.set(got.key, delivery.at);
        firstDelivered.push({ at: delivery.at, row: want, docId: hook.docId });
        if (i < highest) {
          result.orderViolations.push(`${describe(want)} arrived after ${describe(hook.expected[highest])}`);
        }
        highest = Math.max(highest, i);
        if ((got.type !== undefined && got.type !== want.type) || !sameJson(got.fields, want.fields)) {
          result.mismatches.push(`${describe(want)}: got ${got.type ?? ''} ${JSON.stringify(got.fields).slice(0, 200)}, want ${JSON.stringify(want.fields).slice(0, 200)}`);
        }
      }
    }
    // a clear or disable makes the loss of rows of bundles published before its end legitimate, unless they
    // had been delivered before it began
    for (const w of windows.filter((w) => w.hook === hook.name)) {
      for (const row of hook.expected) {
        const at = firstAt.get(row.key);
        if (row.sentAt < w.to && (at === undefined || at >= w.from)) row.optional = true;
        if (w.silent && at !== undefined && row.sentAt > w.silent.from && row.sentAt < w.silent.to) {
          result.firedWhileDisabled.push(`${describe(row)} (published ${clock(row.sentAt)}, delivered ${clock(at)})`);
        }
      }
    }
    for (const row of hook.expected) {
      if (row.optional) result.optional++;
      if (row.optional && firstAt.has(row.key)) result.optionalDelivered++;
      if (firstAt.has(row.key)) result.delivered++;
      else if (!row.optional) result.lost.push(describe(row));
    }
    results.push(result);
  }

  const sum = (f: (r: HookResult) => number): number => results.reduce((s, r) => s + f(r), 0);
  const allRows = hooks.flatMap((h) => h.expected);
  const docs = [...new Set(hooks.map((h) => h.docId))];
  firstDelivered.sort((a, b) => a.at - b.at);
  const recoveries = faults.map((fault) => {
    const after = firstDelivered.filter((d) => d.row.sentAt >= fault.endedAt);
    const first = after[0];
    const perDoc = docs.map((doc) => after.find((d) => d.docId === doc)?.at);
    const all = perDoc.every((t) => t !== undefined) ? Math.max(...(perDoc as number[])) : null;
    return {
      fault: fault.name,
      firstMs: first ? first.at - fault.endedAt : null,
      allDocsMs: all === null ? null : all - fault.endedAt,
      note: fault.note,
    };
  });
  return {
    hooks: results,
    totals: {
      expected: allRows.length,
      required: allRows.filter((r) => !r.optional).length,
      optional: allRows.filter((r) => r.optional).length,
      optionalDelivered: sum((r) => r.optionalDelivered),
      delivered: sum((r) => r.delivered),
      lost: sum((r) => r.lost.length),
      duplicates: sum((r) => r.duplicates),
      unexpected: sum((r) => r.unexpected.length),
      orderViolations: sum((r) => r.orderViolations.length),
      mismatches: sum((r) => r.mismatches.length),
      firedWhileDisabled: sum((r) => r.firedWhileDisabled.length),
    },
    recoveries,
  };
}
