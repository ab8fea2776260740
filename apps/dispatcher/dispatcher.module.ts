import { DynamicModule, Module } from '@nestjs/common';
import { AppContext, CoreModule } from '../../libs/runtime/core.module';
import { DeliveryScheduler } from './delivery-scheduler';
import { deliveryStoreProvider } from './delivery-store';
import { DispatcherMetrics } from './dispatcher.metrics';
import { EventIntakeConsumer } from './event-intake.consumer';
import { QueueHousekeeping } from './queue-housekeeping';
import { WebhookDelivery } from './webhook-delivery';

@Module({})
export class DispatcherModule {
  static register(ctx: AppContext): DynamicModule {
    return {
      module: DispatcherModule,
      imports: [CoreModule.forRoot(ctx)],
      providers: [deliveryStoreProvider, DispatcherMetrics, WebhookDelivery, DeliveryScheduler, EventIntakeConsumer, QueueHousekeeping],
    };
  }
}
