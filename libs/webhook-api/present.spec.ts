import { ColumnDef, DocSchema } from '../domain';
import { isWebhookInvalid, toApiFields } from './present';
import { StoredWebhook } from './types';

const col = (ref: string, id: string, type = 'Text'): ColumnDef => ({ ref, id, type, isFormula: false, formula: '' });

/** The document after `Orders` became `Sales`, `Item` became `Product` and `Qty` was removed. */
const schema: DocSchema = {
  nextRef: 5,
  tables: [{ ref: 't1', id: 'Sales', columns: [col('c1', 'Product'), col('c3', 'Ready', 'Bool'), col('c4', 'Note')] }],
};

const webhook: StoredWebhook = {
  id: 'w1',
  docId: 'doc',
  tableRef: 't1',
  url: 'https://example.com/a',
  eventTypes: ['add', 'update'],
  name: 'orders',
  memo: 'memo',
  readyColRef: 'c3',
  watchedColRefs: ['c1', 'c2', 'c4'],
  enabled: true,
  authorization: 'Bearer k',
  unsubscribeKey: 'key',
  payloadFormat: 'envelope',
  activeSince: 1000,
};

describe('toApiFields', () => {
  it('shows every field, with refs resolved to the current names and removed columns dropped', () => {
    expect(toApiFields(webhook, schema)).toEqual({
      url: 'https://example.com/a',
      unsubscribeKey: 'key',
      eventTypes: ['add', 'update'],
      isReadyColumn: 'Ready',
      tableId: 'Sales',
      watchedColIds: ['Product', 'Note'],
      enabled: true,
      name: 'orders',
      memo: 'memo',
      authorization: 'Bearer k',
      payloadFormat: 'envelope',
    });
  });

  it.each<[string, Partial<StoredWebhook>, Record<string, unknown>]>([
    ['unset fields', { readyColRef: null, watchedColRefs: [], authorization: '' }, { isReadyColumn: null, watchedColIds: [], authorization: '' }],
    ['a removed ready column', { readyColRef: 'c2' }, { isReadyColumn: null }],
    ['a removed table (stale ref)', { tableRef: 't9' }, { tableId: null, isReadyColumn: null, watchedColIds: [] }],
    ['a removed table (null ref)', { tableRef: null }, { tableId: null, isReadyColumn: null, watchedColIds: [] }],
  ])('shows %s', (_name, changes, expected) => {
    expect(toApiFields({ ...webhook, ...changes }, schema)).toMatchObject(expected);
  });
});

describe('isWebhookInvalid', () => {
  it.each<[string | null, boolean]>([
    ['t1', false],
    ['t9', true],
    [null, true],
  ])('table ref %j -> %s', (tableRef, invalid) => {
    expect(isWebhookInvalid({ ...webhook, tableRef }, schema)).toBe(invalid);
  });
});
