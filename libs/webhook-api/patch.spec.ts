import { ColumnDef, DocSchema } from '../domain';
import { ApiError, errorBody } from './api-error';
import { applyPatch } from './patch';
import { ApiPolicy, StoredWebhook } from './types';

const col = (ref: string, id: string, type = 'Text'): ColumnDef => ({ ref, id, type, isFormula: false, formula: '' });

const schema: DocSchema = {
  nextRef: 8,
  tables: [
    { ref: 't1', id: 'Orders', columns: [col('c1', 'Item'), col('c2', 'Qty', 'Numeric'), col('c3', 'Ready', 'Bool')] },
    { ref: 't4', id: 'People', columns: [col('c5', 'Name'), col('c6', 'Done', 'Bool')] },
  ],
};
const policy: ApiPolicy = { allowed: ['example.com'] };
const NOW = 5000;

const current: StoredWebhook = {
  id: 'w1',
  docId: 'doc',
  tableRef: 't1',
  url: 'https://example.com/a',
  eventTypes: ['add', 'update'],
  name: 'orders',
  memo: 'memo',
  readyColRef: 'c3',
  watchedColRefs: ['c2'],
  enabled: true,
  authorization: 'Bearer k',
  unsubscribeKey: 'key',
  payloadFormat: 'grist',
  activeSince: 1000,
};

const patch = (body: unknown, webhook: StoredWebhook = current) => applyPatch(webhook, body, schema, policy, NOW);

function failure(fn: () => unknown): { status: number; body: ReturnType<typeof errorBody> } {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError) return { status: err.status, body: errorBody(err) };
    throw err;
  }
  throw new Error('expected an ApiError');
}

const invalid = (userError: string) => ({ status: 400, body: { error: 'Invalid payload', details: { userError } } });
const plain = (status: number, error: string) => ({ status, body: { error } });

describe('applyPatch', () => {
  it.each<[string, unknown, Partial<StoredWebhook>]>([
    ['empty body changes nothing', {}, {}],
    ['name', { name: 'n2' }, { name: 'n2' }],
    ['memo', { memo: '' }, { memo: '' }],
    ['url re-checked and kept', { url: 'https://api.example.com/b' }, { url: 'https://api.example.com/b' }],
    ['eventTypes', { eventTypes: ['remove'] }, { eventTypes: ['remove'] }],
    ['payloadFormat', { payloadFormat: 'envelope' }, { payloadFormat: 'envelope' }],
    ['authorization "" removes it', { authorization: '' }, { authorization: '' }],
    ['watchedColIds without tableId apply to the current table', { watchedColIds: [' $Item', ''] }, { watchedColRefs: ['c1'] }],
    ['watchedColIds [] clears them', { watchedColIds: [] }, { watchedColRefs: [] }],
    ['isReadyColumn without tableId', { isReadyColumn: 'Qty' }, { readyColRef: 'c2' }],
    ['isReadyColumn null clears it', { isReadyColumn: null }, { readyColRef: null }],
    ['the same tableId changes nothing', { tableId: 'Orders' }, {}],
    ['another table resets ready and watched columns', { tableId: 'People' }, { tableRef: 't4', readyColRef: null, watchedColRefs: [] }],
    [
      'another table with columns given in the same request',
      { tableId: 'People', watchedColIds: ['Name'], isReadyColumn: 'Done' },
      { tableRef: 't4', readyColRef: 'c6', watchedColRefs: ['c5'] },
    ],
    [
      'another table keeping only what is given',
      { tableId: 'People', isReadyColumn: '$Done' },
      { tableRef: 't4', readyColRef: 'c6', watchedColRefs: [] },
    ],
  ])('%s', (_name, body, changes) => {
    expect(patch(body)).toEqual({ next: { ...current, ...changes }, emptyQueue: false });
  });

  it.each<[string, unknown, ReturnType<typeof failure>]>([
    ['body not an object', 'x', invalid('body is not an object')],
    ['unknown field', { id: 'w2' }, invalid('unknown field "id"')],
    ['unsubscribeKey cannot be patched', { unsubscribeKey: 'k' }, invalid('unknown field "unsubscribeKey"')],
    ['tableId null', { tableId: null }, invalid('tableId is not a string')],
    ['enabled mistyped', { enabled: 1 }, invalid('enabled is not a boolean')],
    ['authorization with a line break', { authorization: 'k\nX: 1' }, invalid('authorization is not a valid HTTP header value')],
    ['eventTypes mistyped', { eventTypes: 'add' }, invalid('eventTypes is not an array')],
    ['unknown event type', { eventTypes: ['delete'] }, invalid('eventTypes[0] is none of "add", "update", "remove"')],
    ['watchedColIds mistyped', { watchedColIds: [1] }, invalid('watchedColIds[0] is not a string')],
    ['isReadyColumn mistyped', { isReadyColumn: false }, invalid('isReadyColumn is not a string or null')],
    ['payloadFormat mistyped', { payloadFormat: 'raw' }, invalid('payloadFormat is none of "grist", "envelope"')],
    ['several problems', { name: 1, memo: 2, x: 3 }, invalid('name is not a string; memo is not a string; unknown field "x"')],
    ['url not allowed', { url: 'https://evil.com' }, plain(403, 'Provided url is forbidden')],
    ['url null', { url: null }, invalid('url is not a string')],
    ['empty eventTypes', { eventTypes: [] }, plain(400, 'eventTypes must be a non-empty array')],
    ['unknown table', { tableId: 'Nope' }, plain(404, 'Table not found "Nope"')],
    ['unknown watched column', { watchedColIds: ['Nope'] }, plain(404, 'Column not found "Nope"')],
    ['unknown ready column', { isReadyColumn: 'Nope' }, plain(404, 'Column not found "Nope"')],
    ['columns resolved in the new table', { tableId: 'People', watchedColIds: ['Item'] }, plain(404, 'Column not found "Item"')],
    ['structure before URL', { url: 'https://evil.com', enabled: 'no' }, invalid('enabled is not a boolean')],
    ['URL before empty eventTypes', { url: 'https://evil.com', eventTypes: [] }, plain(403, 'Provided url is forbidden')],
    ['empty eventTypes before table', { eventTypes: [], tableId: 'Nope' }, plain(400, 'eventTypes must be a non-empty array')],
    ['table before columns', { tableId: 'Nope', isReadyColumn: 'x' }, plain(404, 'Table not found "Nope"')],
    ['watched before ready', { watchedColIds: ['w'], isReadyColumn: 'r' }, plain(404, 'Column not found "w"')],
  ])('rejects: %s', (_name, body, expected) => {
    expect(failure(() => patch(body))).toEqual(expected);
  });

  describe('enabled', () => {
    const disabled: StoredWebhook = { ...current, enabled: false };

    it.each<[string, StoredWebhook, unknown, { enabled: boolean; activeSince: number; emptyQueue: boolean }]>([
      ['disabling empties the queue', current, { enabled: false }, { enabled: false, activeSince: 1000, emptyQueue: true }],
      ['disabling again still empties it', disabled, { enabled: false }, { enabled: false, activeSince: 1000, emptyQueue: true }],
      ['enabling restarts activeSince', disabled, { enabled: true }, { enabled: true, activeSince: NOW, emptyQueue: false }],
      ['enabling an enabled webhook keeps it', current, { enabled: true }, { enabled: true, activeSince: 1000, emptyQueue: false }],
      ['other fields leave it alone', disabled, { name: 'x' }, { enabled: false, activeSince: 1000, emptyQueue: false }],
    ])('%s', (_name, webhook, body, expected) => {
      const { next, emptyQueue } = patch(body, webhook);
      expect({ enabled: next.enabled, activeSince: next.activeSince, emptyQueue }).toEqual(expected);
    });
  });

  describe('when the current table was removed', () => {
    const orphans: Array<[string, StoredWebhook]> = [
      ['a ref no longer in the schema', { ...current, tableRef: 't9' }],
      ['a null ref', { ...current, tableRef: null }],
    ];

    describe.each(orphans)('(%s)', (_name, orphan) => {
      it.each<[string, unknown]>([
        ['watched columns', { watchedColIds: ['Item'] }],
        ['a ready column', { isReadyColumn: 'Ready' }],
      ])('naming %s without tableId is 404', (_what, body) => {
        expect(failure(() => patch(body, orphan))).toEqual(
          plain(404, 'Table not found: the webhook\'s table was removed, send "tableId" with the columns'),
        );
      });

      it.each<[string, unknown, Partial<StoredWebhook>]>([
        ['other fields', { name: 'n' }, { name: 'n' }],
        ['clearing columns', { watchedColIds: [' '], isReadyColumn: null }, { watchedColRefs: [], readyColRef: null }],
        [
          'moving to a table',
          { tableId: 'People', watchedColIds: ['Name'] },
          { tableRef: 't4', watchedColRefs: ['c5'], readyColRef: null },
        ],
      ])('accepts %s', (_what, body, changes) => {
        expect(patch(body, orphan).next).toEqual({ ...orphan, ...changes });
      });
    });
  });

  it('leaves the current webhook untouched', () => {
    const before = structuredClone(current);
    patch({ tableId: 'People', enabled: false, watchedColIds: ['Name'] });
    expect(current).toEqual(before);
  });
});
