import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Inject } from '@nestjs/common';
import { NextFunction, Request, Response } from 'express';
import { Logger } from '../../libs/observability';
import { LOGGER } from '../../libs/runtime/core.module';
import { ApiError, errorBody } from '../../libs/webhook-api';

/** Errors of express (body parsing, undecodable paths) carry a status; the body parser's also a type. */
interface ExpressError {
  status?: number;
  type?: string;
  message: string;
}

const isClientError = (err: unknown): err is ExpressError & { status: number } => {
  const status = (err as ExpressError | null)?.status;
  return typeof status === 'number' && status >= 400 && status < 500;
};

const PARSER_MESSAGES: Record<string, string> = {
  'entity.parse.failed': 'Invalid JSON body',
  'entity.too.large': 'Request body too large',
  'encoding.unsupported': 'Unsupported body encoding',
  'charset.unsupported': 'Unsupported body charset',
};

/**
 * Express error middleware placed right after the body parser: its errors become ApiErrors with our messages.
 * Without it Nest would turn a JSON syntax error into a BadRequestException carrying the parser's own message.
 */
export function bodyParserErrors(err: unknown, _req: Request, _res: Response, next: NextFunction): void {
  next(isClientError(err) ? new ApiError(err.status, PARSER_MESSAGES[err.type ?? ''] ?? err.message) : err);
}

/** The one place domain errors become HTTP answers: always JSON `{"error": ...}`, never an HTML page. */
@Catch()
export class ApiErrorFilter implements ExceptionFilter {
  constructor(@Inject(LOGGER) private readonly logger: Logger) {}

  catch(err: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    if (err instanceof ApiError) {
      res.status(err.status).json(errorBody(err));
      return;
    }
    if (err instanceof HttpException) {
      const status = err.getStatus();
      const message = status === 404 ? 'Not found' : err.message;
      res.status(status).json(status === 503 ? err.getResponse() : { error: message });
      return;
    }
    if (isClientError(err)) {
      res.status(err.status).json({ error: err.message });
      return;
    }
    this.logger.error('unexpected error answering a request', { err });
    res.status(500).json({ error: 'Internal error' });
  }
}
