import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, UseGuards } from '@nestjs/common';
import { AuthGuard } from './auth.guard';
import { DocIdPipe } from './doc-id.pipe';
import { WebhooksService } from './webhooks.service';

type Success = { success: true };
const success: Success = { success: true };

/** Grist-compatible webhook routes (SPEC section 6). Queue routes come first so "queue" is never read as an id. */
@Controller('api/docs/:docId')
@UseGuards(AuthGuard)
export class WebhooksController {
  constructor(private readonly service: WebhooksService) {}

  @Get('webhooks')
  async list(@Param('docId', DocIdPipe) docId: string): Promise<unknown> {
    return { webhooks: await this.service.list(docId) };
  }

  @Post('webhooks')
  @HttpCode(200)
  async create(@Param('docId', DocIdPipe) docId: string, @Body() body: unknown): Promise<unknown> {
    const ids = await this.service.create(docId, body);
    return { webhooks: ids.map((id) => ({ id })) };
  }

  @Delete('webhooks/queue')
  async clearAllQueues(@Param('docId', DocIdPipe) docId: string): Promise<Success> {
    await this.service.clearQueue(docId, null);
    return success;
  }

  @Delete('webhooks/queue/:webhookId')
  async clearQueue(@Param('docId', DocIdPipe) docId: string, @Param('webhookId') webhookId: string): Promise<Success> {
    await this.service.clearQueue(docId, webhookId);
    return success;
  }

  @Patch('webhooks/:webhookId')
  async update(@Param('docId', DocIdPipe) docId: string, @Param('webhookId') webhookId: string, @Body() body: unknown): Promise<Success> {
    await this.service.update(docId, webhookId, body);
    return success;
  }

  @Delete('webhooks/:webhookId')
  async remove(@Param('docId', DocIdPipe) docId: string, @Param('webhookId') webhookId: string): Promise<Success> {
    await this.service.remove(docId, webhookId);
    return success;
  }

  @Post('tables/:tableId/_subscribe')
  @HttpCode(200)
  async subscribe(@Param('docId', DocIdPipe) docId: string, @Param('tableId') tableId: string, @Body() body: unknown): Promise<unknown> {
    const webhook = await this.service.subscribe(docId, tableId, body);
    return { unsubscribeKey: webhook.unsubscribeKey, triggerId: webhook.id, webhookId: webhook.id };
  }

  @Post('tables/:tableId/_unsubscribe')
  @HttpCode(200)
  async unsubscribe(@Param('docId', DocIdPipe) docId: string, @Param('tableId') tableId: string, @Body() body: unknown): Promise<Success> {
    await this.service.unsubscribe(docId, tableId, body);
    return success;
  }
}
