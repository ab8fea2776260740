import { PayloadRow } from '../domain';
import { buildPayloadBody } from './payload-body';

const add: PayloadRow = { type: 'add', id: 7, fields: { Item: 'Tea', Qty: 2 }, previous: {}, changedColIds: [] };
const update: PayloadRow = { type: 'update', id: 3, fields: { Item: 'Milk', Qty: 5 }, previous: { Qty: 4 }, changedColIds: ['Qty'] };

describe('buildPayloadBody', () => {
  it.each([
    ['grist', [{ id: 7, Item: 'Tea', Qty: 2 }, { id: 3, Item: 'Milk', Qty: 5 }]],
    [
      'envelope',
      {
        webhookId: 'w1',
        docId: 'sales',
        tableId: 'Orders',
        events: [
          { type: 'add', actionNum: 41, id: 7, fields: { Item: 'Tea', Qty: 2 }, previous: {}, changedColIds: [] },
          { type: 'update', actionNum: 42, id: 3, fields: { Item: 'Milk', Qty: 5 }, previous: { Qty: 4 }, changedColIds: ['Qty'] },
        ],
      },
    ],
  ] as const)('%s format', (format, expected) => {
    const rows = [
      { actionNum: 41, tableId: 'Orders', row: add },
      { actionNum: 42, tableId: 'Orders', row: update },
    ];
    expect(JSON.parse(buildPayloadBody(format, 'w1', 'sales', rows))).toEqual(expected);
  });
});
