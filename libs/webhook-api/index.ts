export * from './api-error';
export { isUuid } from './ids';
export * from './types';
export { validateCreateBody, validateSubscribeBody, validateUnsubscribeBody } from './create';
export { applyPatch } from './patch';
export { toApiFields, isWebhookInvalid } from './present';
