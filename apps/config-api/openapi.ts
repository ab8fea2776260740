import { Controller, Get } from '@nestjs/common';

const error = { type: 'object', properties: { error: { type: 'string' }, details: { type: 'object', properties: { userError: { type: 'string' } } } } };
const success = { type: 'object', properties: { success: { type: 'boolean', enum: [true] } } };
const fields = {
  type: 'object',
  properties: {
    url: { type: 'string', format: 'uri' },
    eventTypes: { type: 'array', items: { type: 'string', enum: ['add', 'update', 'remove'] }, minItems: 1 },
    tableId: { type: 'string' },
    name: { type: 'string', default: '' },
    memo: { type: 'string', default: '' },
    isReadyColumn: { type: ['string', 'null'], default: null },
    watchedColIds: { type: 'array', items: { type: 'string' }, default: [] },
    enabled: { type: 'boolean', default: true },
    authorization: { type: 'string', default: '', description: 'Sent verbatim as the Authorization header' },
    payloadFormat: { type: 'string', enum: ['grist', 'envelope'], default: 'grist' },
  },
};
const usage = {
  type: 'object',
  properties: {
    numWaiting: { type: 'integer' },
    status: { type: 'string', enum: ['idle', 'sending', 'retrying', 'postponed', 'error', 'invalid'] },
    updatedTime: { type: ['integer', 'null'] },
    lastSuccessTime: { type: ['integer', 'null'] },
    lastFailureTime: { type: ['integer', 'null'] },
    lastErrorMessage: { type: ['string', 'null'] },
    lastHttpStatus: { type: ['integer', 'null'] },
    lastEventBatch: {
      type: ['object', 'null'],
      properties: {
        size: { type: 'integer' },
        attempts: { type: 'integer' },
        status: { type: 'string', enum: ['success', 'failure'] },
        httpStatus: { type: ['integer', 'null'] },
        errorMessage: { type: ['string', 'null'] },
      },
    },
  },
};
const json = (schema: object) => ({ content: { 'application/json': { schema } } });
const errors = {
  '400': { description: 'Invalid payload', ...json(error) },
  '401': { description: 'No key or unknown key', ...json(error) },
  '403': { description: 'No owner access, or URL forbidden', ...json(error) },
  '404': { description: 'Table, column or webhook not found', ...json(error) },
};
const docId = { name: 'docId', in: 'path', required: true, schema: { type: 'string' } };
const webhookId = { name: 'webhookId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
const tableId = { name: 'tableId', in: 'path', required: true, schema: { type: 'string' } };

/** OpenAPI 3.1 description of the REST API (SPEC section 6), served at /api/openapi.json. */
export const OPENAPI = {
  openapi: '3.1.0',
  info: { title: 'Webhook engine API (Grist-compatible)', version: '0.1.0' },
  components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
  security: [{ bearer: [] }],
  paths: {
    '/api/docs/{docId}/webhooks': {
      parameters: [docId],
      get: {
        summary: "List a document's webhooks with their status",
        responses: {
          '200': json({ type: 'object', properties: { webhooks: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, fields, usage } } } } }),
          ...errors,
        },
      },
      post: {
        summary: 'Create webhooks (all validated before any is created)',
        requestBody: json({ type: 'object', required: ['webhooks'], properties: { webhooks: { type: 'array', items: { type: 'object', properties: { fields } } } } }),
        responses: { '200': json({ type: 'object', properties: { webhooks: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' } } } } } }), ...errors },
      },
    },
    '/api/docs/{docId}/webhooks/{webhookId}': {
      parameters: [docId, webhookId],
      patch: { summary: 'Change some fields of a webhook', requestBody: json(fields), responses: { '200': json(success), ...errors } },
      delete: { summary: 'Delete a webhook and its queue', responses: { '200': json(success), ...errors } },
    },
    '/api/docs/{docId}/webhooks/queue': {
      parameters: [docId],
      delete: { summary: "Empty every webhook's queue of the document", responses: { '200': json(success), ...errors } },
    },
    '/api/docs/{docId}/webhooks/queue/{webhookId}': {
      parameters: [docId, webhookId],
      delete: { summary: "Empty one webhook's queue", responses: { '200': json(success), ...errors } },
    },
    '/api/docs/{docId}/tables/{tableId}/_subscribe': {
      parameters: [docId, tableId],
      post: {
        summary: 'Legacy: create a webhook on a table',
        requestBody: json(fields),
        responses: { '200': json({ type: 'object', properties: { unsubscribeKey: { type: 'string' }, triggerId: { type: 'string' }, webhookId: { type: 'string' } } }), ...errors },
      },
    },
    '/api/docs/{docId}/tables/{tableId}/_unsubscribe': {
      parameters: [docId, tableId],
      post: {
        summary: 'Legacy: delete a webhook created by _subscribe',
        requestBody: json({ type: 'object', properties: { webhookId: { type: 'string' }, unsubscribeKey: { type: 'string' } } }),
        responses: { '200': json(success), ...errors },
      },
    },
    '/api/keys': {
      get: { summary: 'Admin: list document keys', responses: { '200': json({ type: 'object' }), ...errors } },
      post: {
        summary: 'Admin: create a key for some documents (the key is shown once)',
        requestBody: json({ type: 'object', required: ['docIds'], properties: { docIds: { type: 'array', items: { type: 'string' } } } }),
        responses: { '200': json({ type: 'object', properties: { id: { type: 'string' }, key: { type: 'string' } } }), ...errors },
      },
    },
    '/api/keys/{id}': {
      parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
      delete: { summary: 'Admin: revoke a key', responses: { '200': json(success), ...errors } },
    },
  },
};

@Controller('api')
export class OpenApiController {
  @Get('openapi.json')
  document(): unknown {
    return OPENAPI;
  }
}
