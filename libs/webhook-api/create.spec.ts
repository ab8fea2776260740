import { ColumnDef, DocSchema } from '../domain';
import { ApiError, errorBody } from './api-error';
import { validateCreateBody, validateSubscribeBody, validateUnsubscribeBody } from './create';
import { ApiPolicy, WebhookDraft } from './types';

const col = (ref: string, id: string, type = 'Text'): ColumnDef => ({ ref, id, type, isFormula: false, formula: '' });

const schema: DocSchema = {
  nextRef: 6,
  tables: [
    { ref: 't1', id: 'Orders', columns: [col('c1', 'Item'), col('c2', 'Qty', 'Numeric'), col('c3', 'Ready', 'Bool')] },
    { ref: 't4', id: 'People', columns: [col('c5', 'Name')] },
  ],
};
const policy: ApiPolicy = { allowed: ['example.com'] };
const url = 'https://example.com/hook';

/** Status and JSON body of the ApiError `fn` throws. */
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

const defaults: WebhookDraft = {
  tableRef: 't1',
  url,
  eventTypes: ['add'],
  name: '',
  memo: '',
  readyColRef: null,
  watchedColRefs: [],
  enabled: true,
  authorization: '',
  payloadFormat: 'grist',
};

describe('validateSubscribeBody', () => {
  const subscribe = (body: unknown) => validateSubscribeBody('Orders', body, schema, policy);

  // Grist's own test cases for _subscribe, then ours.
  it.each<[string, unknown, ReturnType<typeof failure>]>([
    ['empty body', {}, invalid('url is missing; eventTypes is missing')],
    ['eventTypes not an array', { eventTypes: 0 }, invalid('url is missing; eventTypes is not an array')],
    ['url missing with empty eventTypes', { eventTypes: [] }, invalid('url is missing')],
    ['empty eventTypes', { eventTypes: [], url }, plain(400, 'eventTypes must be a non-empty array')],
    ['unknown event type', { eventTypes: ['foo'], url }, invalid('eventTypes[0] is none of "add", "update", "remove"')],
    ['second event type bad', { eventTypes: ['add', 5], url }, invalid('eventTypes[1] is none of "add", "update", "remove"')],
    ['url missing', { eventTypes: ['add'] }, invalid('url is missing')],
    ['url not allowed', { eventTypes: ['add'], url: 'https://evil.com' }, plain(403, 'Provided url is forbidden')],
    ['http url', { eventTypes: ['add'], url: 'http://example.com' }, plain(403, 'Provided url is forbidden')],
    ['unknown ready column', { eventTypes: ['add'], url, isReadyColumn: 'bar' }, plain(404, 'Column not found "bar"')],
    ['unknown watched column', { eventTypes: ['add'], url, watchedColIds: ['Item', 'Nope'] }, plain(404, 'Column not found "Nope"')],
    ['body not an object', null, invalid('body is not an object')],
    ['body an array', [], invalid('body is not an object')],
    ['url not a string', { eventTypes: ['add'], url: 5 }, invalid('url is not a string')],
    ['url null', { eventTypes: ['add'], url: null }, invalid('url is not a string')],
    ['authorization not a string', { eventTypes: ['add'], url, authorization: 1 }, invalid('authorization is not a string')],
    ['a line break in authorization', { eventTypes: ['add'], url, authorization: 'Bearer x\r\nX-Injected: 1' }, invalid('authorization is not a valid HTTP header value')],
    ['authorization past Latin-1', { eventTypes: ['add'], url, authorization: 'Bearer \u20ac' }, invalid('authorization is not a valid HTTP header value')],
    ['a NUL in authorization', { eventTypes: ['add'], url, authorization: 'a\u0000' }, invalid('authorization contains a NUL character')],
    ['watchedColIds not an array', { eventTypes: ['add'], url, watchedColIds: 'Item' }, invalid('watchedColIds is not an array')],
    ['watchedColIds item', { eventTypes: ['add'], url, watchedColIds: ['Item', 3] }, invalid('watchedColIds[1] is not a string')],
    ['enabled not a boolean', { eventTypes: ['add'], url, enabled: 'yes' }, invalid('enabled is not a boolean')],
    ['isReadyColumn mistyped', { eventTypes: ['add'], url, isReadyColumn: 3 }, invalid('isReadyColumn is not a string or null')],
    ['name not a string', { eventTypes: ['add'], url, name: 1 }, invalid('name is not a string')],
    ['memo not a string', { eventTypes: ['add'], url, memo: false }, invalid('memo is not a string')],
    ['a NUL in a string', { eventTypes: ['add'], url, name: 'a\u0000b' }, invalid('name contains a NUL character')],
    ['a NUL in a column id', { eventTypes: ['add'], url, watchedColIds: ['\u0000'] }, invalid('watchedColIds[0] contains a NUL character')],
    ['bad payloadFormat', { eventTypes: ['add'], url, payloadFormat: 'xml' }, invalid('payloadFormat is none of "grist", "envelope"')],
    ['unknown field', { eventTypes: ['add'], url, foo: 1 }, invalid('unknown field "foo"')],
    ['tableId comes from the path', { eventTypes: ['add'], url, tableId: 'Orders' }, invalid('unknown field "tableId"')],
    [
      'every structural problem, in field order, unknown fields last',
      { x: 1, name: 2, eventTypes: ['add'] },
      invalid('url is missing; name is not a string; unknown field "x"'),
    ],
  ])('%s', (_name, body, expected) => {
    expect(failure(() => subscribe(body))).toEqual(expected);
  });

  it.each<[string, unknown, ReturnType<typeof failure>]>([
    ['structure before URL', { eventTypes: ['add'], url: 'https://evil.com', name: 1 }, invalid('name is not a string')],
    ['URL before empty eventTypes', { eventTypes: [], url: 'https://evil.com' }, plain(403, 'Provided url is forbidden')],
    ['URL before columns', { eventTypes: ['add'], url: 'https://evil.com', isReadyColumn: 'x' }, plain(403, 'Provided url is forbidden')],
    ['empty eventTypes before columns', { eventTypes: [], url, isReadyColumn: 'x' }, plain(400, 'eventTypes must be a non-empty array')],
    ['watched before ready', { eventTypes: ['add'], url, watchedColIds: ['w'], isReadyColumn: 'r' }, plain(404, 'Column not found "w"')],
  ])('validation order: %s', (_name, body, expected) => {
    expect(failure(() => subscribe(body))).toEqual(expected);
  });

  it('matches the pattern Grist clients test for an unknown event type', () => {
    const { body } = failure(() => subscribe({ eventTypes: ['foo'], url }));
    expect(body.details?.userError).toMatch(/eventTypes\[0] is none of "add", "update"/);
  });

  it('answers 404 for an unknown table in the path', () => {
    expect(failure(() => validateSubscribeBody('Nope', { eventTypes: ['add'], url }, schema, policy))).toEqual(
      plain(404, 'Table not found "Nope"'),
    );
  });

  it('fills the defaults', () => {
    expect(subscribe({ eventTypes: ['add'], url })).toEqual(defaults);
  });

  it('keeps every given field, with columns as refs', () => {
    const body = {
      url,
      eventTypes: ['update', 'remove', 'update'],
      name: 'n',
      memo: 'm',
      isReadyColumn: 'Ready',
      watchedColIds: ['Qty'],
      enabled: false,
      authorization: 'Bearer k',
      payloadFormat: 'envelope',
    };
    expect(subscribe(body)).toEqual({
      tableRef: 't1',
      url,
      eventTypes: ['update', 'remove'],
      name: 'n',
      memo: 'm',
      readyColRef: 'c3',
      watchedColRefs: ['c2'],
      enabled: false,
      authorization: 'Bearer k',
      payloadFormat: 'envelope',
    });
  });

  it.each<[unknown, string[]]>([
    [[' Item ', '$Qty', '', '   ', '$'], ['c1', 'c2']],
    [['Item', '$Item'], ['c1']],
    [[], []],
  ])('normalizes watchedColIds %j', (watchedColIds, refs) => {
    expect(subscribe({ eventTypes: ['update'], url, watchedColIds }).watchedColRefs).toEqual(refs);
  });

  it.each<[unknown, string | null]>([
    ['$Ready', 'c3'],
    [' Ready ', 'c3'],
    ['', null],
    [null, null],
  ])('resolves isReadyColumn %j', (isReadyColumn, ref) => {
    expect(subscribe({ eventTypes: ['add'], url, isReadyColumn }).readyColRef).toBe(ref);
  });
});

describe('validateCreateBody', () => {
  const create = (body: unknown) => validateCreateBody(body, schema, policy);
  const one = (fields: unknown) => ({ webhooks: [{ fields }] });

  // Grist's own test cases for POST /webhooks, then ours.
  it.each<[string, unknown, ReturnType<typeof failure>]>([
    ['eventTypes missing', one({ tableId: 'Orders' }), invalid('url is missing; eventTypes is missing')],
    ['eventTypes not an array', one({ tableId: 'Orders', eventTypes: 0 }), invalid('url is missing; eventTypes is not an array')],
    ['url missing, empty eventTypes', one({ tableId: 'Orders', eventTypes: [] }), invalid('url is missing')],
    ['empty eventTypes', one({ tableId: 'Orders', eventTypes: [], url }), plain(400, 'eventTypes must be a non-empty array')],
    [
      'unknown event type',
      one({ tableId: 'Orders', eventTypes: ['foo'], url }),
      invalid('eventTypes[0] is none of "add", "update", "remove"'),
    ],
    ['url missing', one({ tableId: 'Orders', eventTypes: ['add'] }), invalid('url is missing')],
    ['url forbidden', one({ tableId: 'Orders', eventTypes: ['add'], url: 'https://evil.com' }), plain(403, 'Provided url is forbidden')],
    ['http url', one({ tableId: 'Orders', eventTypes: ['add'], url: 'http://example.com' }), plain(403, 'Provided url is forbidden')],
    [
      'unknown ready column',
      one({ tableId: 'Orders', eventTypes: ['add'], url, isReadyColumn: 'bar' }),
      plain(404, 'Column not found "bar"'),
    ],
    ['tableId missing', one({ eventTypes: ['add'], url }), invalid('tableId is missing')],
    ['webhooks missing', {}, invalid('webhooks is missing')],
    [
      'unknown watched column',
      one({ tableId: 'Orders', eventTypes: ['update'], watchedColIds: ['notExisting'], url }),
      plain(404, 'Column not found "notExisting"'),
    ],
    ['unknown table', one({ tableId: 'Nope', eventTypes: ['add'], url }), plain(404, 'Table not found "Nope"')],
    ['tableId not a string', one({ tableId: 1, eventTypes: ['add'], url }), invalid('tableId is not a string')],
    ['body not an object', 'x', invalid('body is not an object')],
    ['webhooks not an array', { webhooks: {} }, invalid('webhooks is not an array')],
    ['unknown top-level field', { webhooks: [], extra: 1 }, invalid('unknown field "extra"')],
    ['webhooks missing and unknown field', { hooks: [] }, invalid('webhooks is missing; unknown field "hooks"')],
    ['webhook not an object', { webhooks: [1] }, invalid('webhooks[0] is not an object')],
    ['fields missing', { webhooks: [{}] }, invalid('webhooks[0].fields is missing')],
    ['fields not an object', { webhooks: [{ fields: [] }] }, invalid('webhooks[0].fields is not an object')],
    [
      'unknown field beside fields',
      { webhooks: [{ id: 'x', fields: { tableId: 'Orders', eventTypes: ['add'], url } }] },
      invalid('unknown field "id"'),
    ],
    ['unknown field in fields', one({ tableId: 'Orders', eventTypes: ['add'], url, secret: 's' }), invalid('unknown field "secret"')],
  ])('%s', (_name, body, expected) => {
    expect(failure(() => create(body))).toEqual(expected);
  });

  it.each<[string, unknown[], unknown]>([
    [
      'a structural error after an unknown table',
      [{ tableId: 'Nope', eventTypes: ['add'], url }, { tableId: 'Orders', eventTypes: 'add', url }],
      invalid('eventTypes is not an array'),
    ],
    [
      'a structural error after a forbidden URL',
      [{ tableId: 'Orders', eventTypes: ['add'], url: 'https://evil.com' }, { tableId: 'Orders', url }],
      invalid('eventTypes is missing'),
    ],
    [
      'two unknown tables: the first decides',
      [{ tableId: 'Orders', eventTypes: ['add'], url }, { tableId: 'Nope', eventTypes: ['add'], url }, { tableId: 'Nor', eventTypes: ['add'], url }],
      plain(404, 'Table not found "Nope"'),
    ],
  ])('checks the structure of every webhook before any URL, table or column: %s', (_name, fields, expected) => {
    expect(failure(() => create({ webhooks: fields.map((f) => ({ fields: f })) }))).toEqual(expected);
  });

  it('returns one draft per webhook, in order', () => {
    const body = {
      webhooks: [
        { fields: { tableId: 'Orders', eventTypes: ['add'], url } },
        { fields: { tableId: 'People', eventTypes: ['update'], url, watchedColIds: ['Name'] } },
      ],
    };
    expect(create(body)).toEqual([
      defaults,
      { ...defaults, tableRef: 't4', eventTypes: ['update'], watchedColRefs: ['c5'] },
    ]);
  });

  it('accepts an empty list', () => {
    expect(create({ webhooks: [] })).toEqual([]);
  });
});

describe('validateUnsubscribeBody', () => {
  it.each<[string, unknown, ReturnType<typeof failure>]>([
    ['body not an object', [], invalid('body is not an object')],
    ['webhookId missing', { unsubscribeKey: 'k' }, invalid('webhookId is missing')],
    ['webhookId not a string', { webhookId: 1 }, invalid('webhookId is not a string')],
    ['unsubscribeKey not a string', { webhookId: 'w', unsubscribeKey: null }, invalid('unsubscribeKey is not a string')],
    ['unknown field', { webhookId: 'w', x: 1 }, invalid('unknown field "x"')],
  ])('%s', (_name, body, expected) => {
    expect(failure(() => validateUnsubscribeBody(body))).toEqual(expected);
  });

  it.each([[{ webhookId: 'w' }], [{ webhookId: 'w', unsubscribeKey: 'k' }]])('returns the webhook id of %j', (body) => {
    expect(validateUnsubscribeBody(body)).toBe('w');
  });
});
