import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { AppContext, CoreModule } from '../../libs/runtime/core.module';
import { ApiErrorFilter } from './api-error.filter';
import { AuthGuard } from './auth.guard';
import { KeysController } from './keys.controller';
import { OpenApiController } from './openapi';
import { WebhooksController } from './webhooks.controller';
import { WebhooksService } from './webhooks.service';

@Module({})
export class ConfigApiModule {
  static register(ctx: AppContext): DynamicModule {
    return {
      module: ConfigApiModule,
      imports: [CoreModule.forRoot(ctx)],
      controllers: [WebhooksController, KeysController, OpenApiController],
      providers: [WebhooksService, AuthGuard, { provide: APP_FILTER, useClass: ApiErrorFilter }],
    };
  }
}
