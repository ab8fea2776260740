import { runApp } from '../../libs/runtime/bootstrap';
import { bodyParserErrors } from './api-error.filter';
import { ConfigApiModule } from './config-api.module';

void runApp(
  'config-api',
  (ctx) => ConfigApiModule.register(ctx),
  (nest) => {
    nest.useBodyParser('json', { limit: '256kb' });
    nest.use(bodyParserErrors);
  },
);
