import { DynamicModule, Module } from '@nestjs/common';
import { AppContext, CoreModule } from '../../libs/runtime/core.module';
import { BundleConsumer } from './bundle.consumer';
import { BundleProcessor } from './bundle-processor';
import { MatcherMetrics } from './matcher.metrics';
import { WebhookRulesCache } from './webhook-rules.cache';

@Module({})
export class MatcherModule {
  static register(ctx: AppContext): DynamicModule {
    return {
      module: MatcherModule,
      imports: [CoreModule.forRoot(ctx)],
      providers: [MatcherMetrics, WebhookRulesCache, BundleProcessor, BundleConsumer],
    };
  }
}
