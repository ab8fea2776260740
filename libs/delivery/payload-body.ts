import { PayloadFormat, PayloadRow } from '../domain';

export interface BatchRow {
  actionNum: number;
  tableId: string;
  row: PayloadRow;
}

/**
 * The request body for a batch. `grist`: a JSON array of `{id, ...columns}` (Grist's format). `envelope`
 * (SPEC section 7): the webhook, document and table, then every row event with its type and previous values.
 */
export function buildPayloadBody(format: PayloadFormat, webhookId: string, docId: string, rows: BatchRow[]): string {
  if (format === 'envelope') {
    return JSON.stringify({
      webhookId,
      docId,
      tableId: rows.length > 0 ? rows[rows.length - 1].tableId : null,
      events: rows.map(({ actionNum, row }) => ({
        type: row.type,
        actionNum,
        id: row.id,
        fields: row.fields,
        previous: row.previous,
        changedColIds: row.changedColIds,
      })),
    });
  }
  return JSON.stringify(rows.map(({ row }) => ({ id: row.id, ...row.fields })));
}
