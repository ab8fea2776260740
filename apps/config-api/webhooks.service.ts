import { Inject, Injectable } from '@nestjs/common';
import { randomBytes, randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { EngineConfig } from '../../libs/config';
import { CONFIG } from '../../libs/runtime/core.module';
import { DeliveryRepository } from '../../libs/db/delivery.repository';
import { DocStateRepository } from '../../libs/db/doc-state.repository';
import { WebhookRepository } from '../../libs/db/webhook.repository';
import { idleStatus, parseAllowedDomains, toUsage } from '../../libs/delivery';
import { DocSchema, emptySchema, findTableById, WebhookUsage } from '../../libs/domain';
import {
  ApiPolicy,
  applyPatch,
  isWebhookInvalid,
  isUuid,
  NewWebhook,
  StoredWebhook,
  toApiFields,
  validateCreateBody,
  validateSubscribeBody,
  validateUnsubscribeBody,
  WebhookDraft,
  webhookNotFound,
} from '../../libs/webhook-api';

/** Webhook use cases of SPEC section 6: validation is pure (libs/webhook-api), storage in the repositories. */
@Injectable()
export class WebhooksService {
  private readonly webhooks: WebhookRepository;
  private readonly docs: DocStateRepository;
  private readonly deliveries: DeliveryRepository;
  private readonly policy: ApiPolicy;

  constructor(db: DataSource, @Inject(CONFIG) config: EngineConfig) {
    this.webhooks = new WebhookRepository(db);
    this.docs = new DocStateRepository(db);
    this.deliveries = new DeliveryRepository(db);
    this.policy = { allowed: parseAllowedDomains(config.allowedWebhookDomains) };
  }

  async list(docId: string): Promise<Array<{ id: string; fields: Record<string, unknown>; usage: WebhookUsage }>> {
    const [hooks, schema] = await Promise.all([this.webhooks.listByDoc(docId), this.schema(docId)]);
    const states = await this.deliveries.states(hooks.map((w) => w.id));
    return hooks.map((w) => {
      const usage = toUsage(states.get(w.id)?.status ?? idleStatus(0));
      return { id: w.id, fields: toApiFields(w, schema), usage: isWebhookInvalid(w, schema) ? { ...usage, status: 'invalid' } : usage };
    });
  }

  async create(docId: string, body: unknown): Promise<string[]> {
    const drafts = validateCreateBody(body, await this.schema(docId), this.policy);
    const created = drafts.map((d) => this.newWebhook(docId, d));
    await this.webhooks.insert(created);
    return created.map((w) => w.id);
  }

  async subscribe(docId: string, tableId: string, body: unknown): Promise<NewWebhook> {
    const draft = validateSubscribeBody(tableId, body, await this.schema(docId), this.policy);
    const webhook = this.newWebhook(docId, draft);
    await this.webhooks.insert([webhook]);
    return webhook;
  }

  /** Grist's `_unsubscribe`: any key reaching this point owns the document, so the unsubscribeKey is not required. */
  async unsubscribe(docId: string, tableId: string, body: unknown): Promise<void> {
    const webhookId = validateUnsubscribeBody(body);
    const webhook = await this.find(docId, webhookId);
    const table = findTableById(await this.schema(docId), tableId);
    if (!table || table.ref !== webhook.tableRef) throw webhookNotFound(webhookId);
    await this.webhooks.delete(docId, webhook.id);
  }

  async update(docId: string, webhookId: string, body: unknown): Promise<void> {
    const schema = await this.schema(docId);
    const patch = (current: StoredWebhook, now: number) => applyPatch(current, body, schema, this.policy, now);
    if (!isUuid(webhookId) || !(await this.webhooks.update(docId, webhookId, patch))) throw webhookNotFound(webhookId);
  }

  async remove(docId: string, webhookId: string): Promise<void> {
    await this.find(docId, webhookId);
    await this.webhooks.delete(docId, webhookId);
  }

  async clearQueue(docId: string, webhookId: string | null): Promise<void> {
    if (webhookId !== null) await this.find(docId, webhookId);
    await this.webhooks.clearQueues(docId, webhookId);
  }

  private async find(docId: string, webhookId: string): Promise<StoredWebhook> {
    const webhook = isUuid(webhookId) ? await this.webhooks.get(docId, webhookId) : null;
    if (!webhook) throw webhookNotFound(webhookId);
    return webhook;
  }

  private async schema(docId: string): Promise<DocSchema> {
    return (await this.docs.loadSchema(docId)) ?? emptySchema();
  }

  /** The repository stamps activeSince as it stores the webhook. */
  private newWebhook(docId: string, draft: WebhookDraft): NewWebhook {
    return { ...draft, id: randomUUID(), docId, unsubscribeKey: randomBytes(18).toString('base64url') };
  }
}
