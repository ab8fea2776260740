/** A domain error the API maps to an HTTP status in one filter. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details?: { userError: string },
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The JSON body of an error answer (SPEC section 6). */
export function errorBody(err: ApiError): { error: string; details?: { userError: string } } {
  return err.details ? { error: err.message, details: err.details } : { error: err.message };
}

/** Schema errors: 400 `{"error": "Invalid payload", "details": {"userError": ...}}`. */
export const invalidPayload = (userError: string): ApiError => new ApiError(400, 'Invalid payload', { userError });
export const badRequest = (message: string): ApiError => new ApiError(400, message);
export const forbidden = (message: string): ApiError => new ApiError(403, message);
export const notFound = (message: string): ApiError => new ApiError(404, message);

export const urlForbidden = (): ApiError => forbidden('Provided url is forbidden');
export const tableNotFound = (tableId: string): ApiError => notFound(`Table not found "${tableId}"`);
export const columnNotFound = (colId: string): ApiError => notFound(`Column not found "${colId}"`);
export const webhookNotFound = (webhookId: string): ApiError => notFound(`Webhook not found "${webhookId}"`);
