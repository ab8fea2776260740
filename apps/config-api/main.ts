import { runApp } from '../../libs/runtime/bootstrap';
import { bodyParserErrors } from './api-error.filter';
import { ConfigApiModule } from './config-api.module';
import { requestMetrics } from './request-metrics';

void runApp(
  'config-api',
  (ctx) => ConfigApiModule.register(ctx),
  (nest, ctx) => {
    nest.use(requestMetrics(ctx.metrics));
    nest.useBodyParser('json', { limit: '256kb' });
    nest.use(bodyParserErrors);
  },
);
