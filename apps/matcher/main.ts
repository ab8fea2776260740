import { runApp } from '../../libs/runtime/bootstrap';
import { MatcherModule } from './matcher.module';

void runApp('matcher', (ctx) => MatcherModule.register(ctx));
