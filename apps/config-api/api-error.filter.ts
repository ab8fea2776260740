import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Inject } from '@nestjs/common';
import { Response } from 'express';
import { Logger } from '../../libs/observability';
import { LOGGER } from '../../libs/runtime/core.module';
import { ApiError, errorBody } from '../../libs/webhook-api';

/** Errors of body parsing (express) carry a status and a type. */
interface ParserError {
  status?: number;
  type?: string;
  message: string;
}

const PARSER_MESSAGES: Record<string, string> = {
  'entity.parse.failed': 'Invalid JSON body',
  'entity.too.large': 'Request body too large',
  'encoding.unsupported': 'Unsupported body encoding',
  'charset.unsupported': 'Unsupported body charset',
};

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
    const parser = err as ParserError;
    if (parser && typeof parser.status === 'number' && parser.status >= 400 && parser.status < 500) {
      res.status(parser.status).json({ error: PARSER_MESSAGES[parser.type ?? ''] ?? parser.message });
      return;
    }
    this.logger.error('unexpected error answering a request', { err });
    res.status(500).json({ error: 'Internal error' });
  }
}
