import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { WebhookRepository } from '../../libs/db/webhook.repository';
import { WebhookRule } from '../../libs/domain';
import { Logger, OutageLog } from '../../libs/observability';
import { LOGGER } from '../../libs/runtime/core.module';

/** How often the matcher looks for webhook changes: well under the one second the spec allows. */
const POLL_MS = 250;

/**
 * Every webhook, by document, in memory: a bundle never waits on Postgres for its webhooks. One cheap query per
 * poll notices a change (config_version); only then are the webhooks read again.
 */
@Injectable()
export class WebhookRulesCache implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly repo: WebhookRepository;
  private byDoc = new Map<string, WebhookRule[]>();
  private version = -1;
  /**
   * When the last refresh began: the cache holds every webhook active since before it, as its version read waits
   * for changes in progress (WebhookRepository.configVersion).
   */
  private refreshedAt = 0;
  private timer: NodeJS.Timeout | null = null;
  /** Refreshes run one at a time, so an older read never replaces a newer one. */
  private running: Promise<void> | null = null;
  /** The refresh after the running one, shared by every caller meanwhile: it starts after all of them asked. */
  private queued: Promise<void> | null = null;

  constructor(db: DataSource, @Inject(LOGGER) private readonly logger: Logger) {
    this.repo = new WebhookRepository(db);
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.refresh();
    const polls = new OutageLog(this.logger, 'refresh webhooks');
    const tick = (): void => {
      this.timer = setTimeout(() => {
        void polls.run(() => this.refresh()).finally(() => this.timer && tick());
      }, POLL_MS);
    };
    tick();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  forDoc(docId: string): WebhookRule[] {
    return this.byDoc.get(docId) ?? [];
  }

  /**
   * True when a bundle appended at `appendedAt` may be newer than the cache: the config version must be read before
   * it is matched (confirmVersion), so a webhook fires for every bundle appended after it was created, not only for
   * those read a poll later.
   */
  mayBeOlderThan(appendedAt: number): boolean {
    return this.refreshedAt <= appendedAt;
  }

  /** `version` was read (as WebhookRepository.configVersion reads it) after `readAt`: refreshes if it changed. */
  async confirmVersion(version: number, readAt: number): Promise<void> {
    if (version === this.version) this.refreshedAt = Math.max(this.refreshedAt, readAt);
    else await this.refresh();
  }

  refresh(): Promise<void> {
    if (!this.running) return (this.running = this.load().finally(() => (this.running = null)));
    this.queued ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = null;
        return this.refresh();
      });
    return this.queued;
  }

  private async load(): Promise<void> {
    const startedAt = Date.now();
    const version = await this.repo.configVersion();
    if (version === this.version) {
      this.refreshedAt = Math.max(this.refreshedAt, startedAt);
      return;
    }
    const byDoc = new Map<string, WebhookRule[]>();
    for (const w of await this.repo.listAll()) {
      const list = byDoc.get(w.docId) ?? [];
      list.push(w);
      byDoc.set(w.docId, list);
    }
    this.byDoc = byDoc;
    this.version = version;
    this.refreshedAt = Math.max(this.refreshedAt, startedAt);
  }
}
