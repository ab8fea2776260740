import { runApp } from '../../libs/runtime/bootstrap';
import { DispatcherModule } from './dispatcher.module';

void runApp('dispatcher', (ctx) => DispatcherModule.register(ctx));
