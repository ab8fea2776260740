import { keyProblem, parseBundle } from './parse-bundle';

const valid = { docId: 'sales', actionNum: 42, actions: [] as unknown[] };
const withActions = (...actions: unknown[]): string => JSON.stringify({ ...valid, actions });

describe('parseBundle', () => {
  it('accepts the bundle of SPEC section 2, from a Buffer', () => {
    const raw = {
      docId: 'sales',
      actionNum: 42,
      actionHash: 'h',
      timestamp: 1764430000000,
      user: 'ann',
      userActions: [['AddRecord', 'Orders', null, { Item: 'Tea' }]],
      actions: [
        ['AddRecord', 'Orders', 7, { Item: 'Tea', Qty: 2, manualSort: 7 }],
        ['UpdateRecord', 'Orders', 7, { Total: 9.5 }],
      ],
    };
    expect(parseBundle(Buffer.from(JSON.stringify(raw)))).toEqual({ ok: true, bundle: raw });
  });

  it('defaults userActions and drops optional fields of the wrong type', () => {
    const raw = JSON.stringify({ ...valid, actionHash: 1, timestamp: 'now', user: null });
    const bundle = { docId: 'sales', actionNum: 42, userActions: [], actions: [] };
    expect(parseBundle(raw)).toEqual({ ok: true, bundle });
  });

  it("accepts Grist's stored envelopes, followed by calc ones", () => {
    const raw = JSON.stringify({
      docId: 'sales',
      actionNum: 1,
      stored: [[0, ['AddRecord', 'Orders', 1, { Item: 'Tea' }]]],
      calc: [[0, ['UpdateRecord', 'Orders', 1, { Total: 2 }]]],
    });
    const result = parseBundle(raw);
    expect(result.ok && result.bundle.actions).toEqual([
      ['AddRecord', 'Orders', 1, { Item: 'Tea' }],
      ['UpdateRecord', 'Orders', 1, { Total: 2 }],
    ]);
  });

  it.each([
    ['every action name', withActions(
      ['AddRecord', 'T', 1, {}],
      ['BulkAddRecord', 'T', [1, 2], { A: [1, 2] }],
      ['UpdateRecord', 'T', 1, { A: null }],
      ['BulkUpdateRecord', 'T', [], {}],
      ['RemoveRecord', 'T', 1],
      ['BulkRemoveRecord', 'T', [1]],
      ['ReplaceTableData', 'T', [1], { A: [['L', 1]] }],
      ['TableData', 'T', [1], {}],
      ['AddTable', 'T', [{ id: 'A', type: 'Text', isFormula: false, formula: '', widgetOptions: '' }]],
      ['RemoveTable', 'T'],
      ['RenameTable', 'T', 'U'],
      ['AddColumn', 'T', 'A', { type: 'Ref:People', label: 'A' }],
      ['RemoveColumn', 'T', 'A'],
      ['RenameColumn', 'T', 'A', 'B'],
      ['ModifyColumn', 'T', 'A', {}],
    )],
  ])('accepts %s', (_name, raw) => {
    expect(parseBundle(raw).ok).toBe(true);
  });

  const bundle = (fields: object): string => JSON.stringify({ docId: 'd', actionNum: 1, ...fields });

  it.each<[string, string | null | undefined, string | RegExp]>([
    ['no value', null, 'message has no value'],
    ['undefined value', undefined, 'message has no value'],
    ['invalid JSON', '{"docId": ', /^invalid JSON: /],
    ['a JSON array', '[]', 'bundle is not an object'],
    ['JSON null', 'null', 'bundle is not an object'],
    ['a JSON string', '"x"', 'bundle is not an object'],
    ['no docId', JSON.stringify({ actionNum: 1, actions: [] }), 'docId is missing'],
    ['empty docId', bundle({ docId: '' }), 'docId must be a non-empty string'],
    ['numeric docId', bundle({ docId: 7 }), 'docId must be a non-empty string'],
    ['no actionNum', JSON.stringify({ docId: 'd', actions: [] }), 'actionNum is missing'],
    ['actionNum 0', bundle({ actionNum: 0 }), 'actionNum must be a positive integer'],
    ['fractional actionNum', bundle({ actionNum: 1.5 }), 'actionNum must be a positive integer'],
    ['string actionNum', bundle({ actionNum: '3' }), 'actionNum must be a positive integer'],
    ['userActions not an array', bundle({ userActions: {}, actions: [] }), 'userActions must be an array'],
    ['neither actions nor stored', bundle({}), /^actions is missing/],
    ['actions not an array', bundle({ actions: {} }), 'actions must be an array'],
    ['stored not an array', bundle({ stored: 1 }), 'stored must be an array'],
    ['calc not an array', bundle({ stored: [], calc: {} }), 'calc must be an array'],
    [
      'a stored entry not a pair',
      bundle({ stored: [[0, ['RemoveTable', 'T'], 1]] }),
      /^stored\[0\]: not an \[envelope/,
    ],
    [
      'a bad stored action',
      bundle({ stored: [[0, ['RemoveTable', 'T']], [1, ['Foo']]] }),
      'stored[1]: unknown action "Foo"',
    ],
    ['a bad calc action', bundle({ stored: [], calc: [[0, ['RemoveTable']]] }), /^calc\[0\]: RemoveTable needs 2/],
    [
      'an unknown action after good ones',
      withActions(['RemoveTable', 'T'], ['RemoveTable', 'T'], ['Foo', 'T']),
      'actions[2]: unknown action "Foo"',
    ],
  ])('rejects %s', (_name, raw, reason) => {
    const expected = typeof reason === 'string' ? reason : expect.stringMatching(reason);
    expect(parseBundle(raw)).toEqual({ ok: false, reason: expected });
  });

  const unstorable = 'bundle holds text the database cannot store (a NUL character or an unpaired surrogate)';
  const cell = (json: string): string => `{"docId":"d","actionNum":1,"actions":[["AddRecord","T",1,{"A":${json}}]]}`;

  it.each<[string, string | Buffer, string | true]>([
    ['a NUL in a cell', cell('"a\\u0000b"'), unstorable],
    ['a NUL deep in a list cell', cell('["L", "x", ["y\\u0000"]]'), unstorable],
    ['a lone high surrogate', cell('"\\ud800"'), unstorable],
    ['a lone low surrogate, in capitals', cell('"x\\uDC00"'), unstorable],
    ['a NUL in a column id', '{"docId":"d","actionNum":1,"actions":[["AddRecord","T",1,{"A\\u0000":1}]]}', unstorable],
    ['a NUL in userActions', '{"docId":"d","actionNum":1,"userActions":[["\\u0000"]],"actions":[]}', unstorable],
    ['a surrogate pair as escapes', cell('"\\ud83d\\ude00"'), true],
    ['an emoji as UTF-8', Buffer.from(cell('"tea \u{1F375}"')), true],
    ['an escaped backslash before u0000', cell('"a\\\\u0000"'), true],
    ['a cell nested 90 deep (a bundle is 4 deep to its cells)', cell(`${'['.repeat(90)}${']'.repeat(90)}`), true],
    ['a cell nested 10,000 deep, which JSON.stringify cannot write again', cell(`${'['.repeat(10_000)}${']'.repeat(10_000)}`), 'bundle nests arrays or objects more than 100 deep'],
    ['a cell of objects nested 90 deep', cell(`${'{"k":'.repeat(90)}1${'}'.repeat(90)}`), true],
    ['a cell of objects nested 10,000 deep', cell(`${'{"k":'.repeat(10_000)}1${'}'.repeat(10_000)}`), 'bundle nests arrays or objects more than 100 deep'],
    ['a NUL nested 20,000 deep: the depth is checked before the strings are walked', cell(`${'['.repeat(20_000)}"\\u0000"${']'.repeat(20_000)}`), 'bundle nests arrays or objects more than 100 deep'],
    // JSON.parse reads them as Infinity, which was stored and sent as null
    ['a number past the largest double', cell('1e400'), 'bundle holds a number too large for JSON (beyond ±1.8e308)'],
    ['a negative one deep in a list, written out in digits', cell(`["L", 1, -${'9'.repeat(400)}]`), 'bundle holds a number too large for JSON (beyond ±1.8e308)'],
    // neither a 3-digit exponent nor 309 digits in a row, which the text was once searched for
    ['many digits times a 2-digit exponent', cell(`1${'0'.repeat(250)}e99`), 'bundle holds a number too large for JSON (beyond ±1.8e308)'],
    ['one in an object in a list', cell('["L", {"k": [2, 1e999]}]'), 'bundle holds a number too large for JSON (beyond ±1.8e308)'],
    ['many digits with a fraction times a 2-digit exponent', cell(`-${'9'.repeat(210)}.5E+99`), 'bundle holds a number too large for JSON (beyond ±1.8e308)'],
    ['the largest double and a string that looks like an overflow', cell('[1.7976931348623157e308, "1e400", 1E-400]'), true],
    ['a docId of 512 bytes', JSON.stringify({ ...valid, docId: 'd'.repeat(512) }), true],
    ['a docId of 513 bytes', JSON.stringify({ ...valid, docId: 'd'.repeat(513) }), 'docId cannot be stored: it is 513 bytes long, more than 512'],
    ['a docId of 200 three-byte characters', JSON.stringify({ ...valid, docId: '\u4e00'.repeat(200) }), 'docId cannot be stored: it is 600 bytes long, more than 512'],
  ])('stores or refuses %s', (_name, raw, expected) => {
    expect(parseBundle(raw)).toEqual(expected === true ? { ok: true, bundle: expect.anything() } : { ok: false, reason: expected });
  });

  it.each<[string, unknown, string]>([
    ['an action not an array', { name: 'AddRecord' }, 'action is not an array'],
    ['an unknown action', ['Foo', 'T'], 'unknown action "Foo"'],
    ['an unknown action of 10,000 characters, quoted short', ['x'.repeat(10_000), 'T'], `unknown action "${'x'.repeat(100)}..."`],
    ['an action name not a string', [3, 'T'], 'unknown action 3'],
    ['too few elements', ['AddRecord', 'T', 1], 'AddRecord needs 4 elements, got 3'],
    ['too many elements', ['RemoveTable', 'T', 'x'], 'RemoveTable needs 2 elements, got 3'],
    ['an empty table id', ['RemoveTable', ''], 'RemoveTable table id must be a non-empty string'],
    ['a numeric table id', ['AddRecord', 1, 1, {}], 'AddRecord table id must be a non-empty string'],
    ['row id 0', ['UpdateRecord', 'T', 0, {}], 'UpdateRecord row id must be an integer from 1 to 2147483647'],
    ['row id 2^31', ['AddRecord', 'T', 2147483648, {}], 'AddRecord row id must be an integer from 1 to 2147483647'],
    ['row id null', ['RemoveRecord', 'T', null], 'RemoveRecord row id must be an integer from 1 to 2147483647'],
    ['row ids not an array', ['BulkRemoveRecord', 'T', 1], 'BulkRemoveRecord row ids must be an array'],
    [
      'a fractional row id',
      ['BulkAddRecord', 'T', [1, 2.5], {}],
      'BulkAddRecord row ids[1] must be an integer from 1 to 2147483647',
    ],
    [
      'a bulk row id of 2^31',
      ['BulkRemoveRecord', 'T', [1, 2147483648]],
      'BulkRemoveRecord row ids[1] must be an integer from 1 to 2147483647',
    ],
    ['column values an array', ['AddRecord', 'T', 1, []], 'AddRecord column values must be an object'],
    ['bulk column values null', ['TableData', 'T', [1], null], 'TableData column values must be an object'],
    [
      'a bulk column not an array',
      ['BulkUpdateRecord', 'T', [1], { A: 1 }],
      'BulkUpdateRecord column "A" is not an array',
    ],
    [
      'a bulk column of the wrong length',
      ['BulkAddRecord', 'T', [1, 2, 3], { A: [1, 2] }],
      'BulkAddRecord column "A" has 2 values for 3 rows',
    ],
    [
      'ReplaceTableData of the wrong length',
      ['ReplaceTableData', 'T', [1], { A: [] }],
      'ReplaceTableData column "A" has 0 values for 1 rows',
    ],
    ['AddTable columns not an array', ['AddTable', 'T', {}], 'AddTable columns must be an array'],
    [
      'an AddTable column without id',
      ['AddTable', 'T', [{ id: 'A' }, {}]],
      'AddTable columns[1] needs a non-empty string id',
    ],
    [
      'an AddTable column with a bad type',
      ['AddTable', 'T', [{ id: 'A', type: 1 }]],
      'AddTable columns[0]: type must be a string',
    ],
    ['a new table id not a string', ['RenameTable', 'T', null], 'RenameTable new table id must be a non-empty string'],
    ['an empty column id', ['AddColumn', 'T', '', {}], 'AddColumn column id must be a non-empty string'],
    ['column info not an object', ['AddColumn', 'T', 'A', 'Text'], 'AddColumn column info must be an object'],
    [
      'isFormula not a boolean',
      ['ModifyColumn', 'T', 'A', { isFormula: 1 }],
      'ModifyColumn column info: isFormula must be a boolean',
    ],
    [
      'formula not a string',
      ['ModifyColumn', 'T', 'A', { formula: 1 }],
      'ModifyColumn column info: formula must be a string',
    ],
    ['a column id not a string', ['RemoveColumn', 'T', 3], 'RemoveColumn column id must be a non-empty string'],
    ['an empty new column id', ['RenameColumn', 'T', 'A', ''], 'RenameColumn new column id must be a non-empty string'],
  ])('rejects %s', (_name, action, reason) => {
    expect(parseBundle(withActions(action))).toEqual({ ok: false, reason: `actions[0]: ${reason}` });
  });
});

describe('keyProblem', () => {
  it.each<[string, Buffer | null, string | undefined]>([
    ['the docId', Buffer.from('sales'), undefined],
    ['the docId in UTF-8', Buffer.from('ventes-\u00e9t\u00e9'), undefined],
    ['another key', Buffer.from('Sales'), 'message key "Sales" is not the docId "sales": a document\'s bundles must share one key'],
    ['no key', null, 'message key missing is not the docId "sales": a document\'s bundles must share one key'],
    ['an empty key', Buffer.from(''), 'message key "" is not the docId "sales": a document\'s bundles must share one key'],
  ])('%s', (_, key, problem) => {
    const docId = key?.toString('utf8').startsWith('ventes') ? 'ventes-\u00e9t\u00e9' : 'sales';
    expect(keyProblem(key, docId)).toBe(problem);
  });

  it('quotes at most 100 characters of a long key', () => {
    expect(keyProblem(Buffer.from('k'.repeat(5000)), 'sales')).toBe(
      `message key "${'k'.repeat(100)}" is not the docId "sales": a document's bundles must share one key`,
    );
  });
});
