/**
 * The matcher's batch processing against the real database: documents remembered from an earlier batch are
 * checked against what another instance may have saved since, never trusted alone.
 */
import { ActionMessage, BundleProcessor, MatchedBatch } from '../apps/matcher/bundle-processor';
import { MatcherMetrics } from '../apps/matcher/matcher.metrics';
import { WebhookRulesCache } from '../apps/matcher/webhook-rules.cache';
import { DocStateRepository } from '../libs/db/doc-state.repository';
import { Logger, MetricsRegistry } from '../libs/observability';
import { useMigratedDatabase } from './support/harness';

const database = useMigratedDatabase();
const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, child: () => quiet };

/** One matcher instance's processor (its webhooks read on demand, as the first batch of a bundle newer than them does). */
const processor = (): BundleProcessor =>
  new BundleProcessor(database.source, new WebhookRulesCache(database.source, quiet), new MatcherMetrics(new MetricsRegistry()), quiet);

const message = (docId: string, actionNum: number, actions: unknown[][]): ActionMessage => ({
  key: Buffer.from(docId),
  value: Buffer.from(JSON.stringify({ docId, actionNum, actions, userActions: [] })),
  timestamp: Date.now(),
  offset: String(actionNum),
});

/** Matches one bundle and saves its state, as the consumer does once its events are published. */
async function applyAndSave(p: BundleProcessor, docId: string, actionNum: number, actions: unknown[][]): Promise<MatchedBatch> {
  const matched = await p.process([message(docId, actionNum, actions)]);
  expect(matched.deadLetters).toEqual([]);
  await new DocStateRepository(database.source).save(matched.docChanges);
  p.remember(matched.docStates);
  return matched;
}

describe('BundleProcessor', () => {
  it.each([
    { case: 'reading rows', doc: 'd1', next: [['UpdateRecord', 'Orders', 1, { Note: 'y' }]], changed: 1 },
    { case: 'reading none (a new table)', doc: 'd2', next: [['AddTable', 'Other', [{ id: 'Name', type: 'Text' }]]], changed: 0 },
  ])('refuses to match a document another instance moved since it remembered it ($case), and matches it once it has forgotten', async ({ doc, next, changed }) => {
    const first = processor();
    await applyAndSave(first, doc, 1, [['AddTable', 'Orders', [{ id: 'Item', type: 'Text' }]]]);
    await applyAndSave(first, doc, 2, [['AddRecord', 'Orders', 1, { Item: 'Tea' }]]);
    // a rebalance gave the document to another instance, which added a column
    await applyAndSave(processor(), doc, 3, [['AddColumn', 'Orders', 'Note', { type: 'Text' }], ['UpdateRecord', 'Orders', 1, { Note: 'x' }]]);

    await expect(first.process([message(doc, 4, next)])).rejects.toThrow(`document state changed by another matcher meanwhile: ${doc}`);
    first.forgetDocs();
    const matched = await applyAndSave(first, doc, 4, next);
    expect(matched.docChanges.map((c) => [c.previousActionNum, c.lastActionNum, c.rows.size])).toEqual([[3, 4, changed]]);
    expect(matched.docStates.map((d) => [d.lastActionNum, d.schema.tables[0].columns.map((c) => c.id)])).toEqual([[4, ['Item', 'Note']]]);
  });
});
