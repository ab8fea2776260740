export * from './api-error';
export * from './types';
export { validateCreateBody, validateSubscribeBody, validateUnsubscribeBody } from './create';
export { applyPatch } from './patch';
export { toApiFields, isWebhookInvalid } from './present';
