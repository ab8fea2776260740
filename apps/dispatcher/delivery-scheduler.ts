import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { EngineConfig } from '../../libs/config';
import { DeliveryRepository } from '../../libs/db/delivery.repository';
import { DeliveryStore } from './delivery-store';
import { Logger, OutageLog, repeatLogged } from '../../libs/observability';
import { CONFIG, LOGGER } from '../../libs/runtime/core.module';
import { WebhookDelivery } from './webhook-delivery';

/** How often due webhooks are looked for when nothing pokes the scheduler (other instances' intake). */
const CLAIM_EVERY_MS = 200;
/** A webhook leased by a dead instance is taken over after this long. */
const LEASE_MS = 5000;
const RENEW_EVERY_MS = 1000;
/** Clearing, disabling or deleting abandons an in-flight request within this (spec: one second). */
const WATCH_EVERY_MS = 250;
/** A loop that failed unexpectedly (database down, a bug) is not resumed before this, so it cannot spin. */
const COOL_DOWN_MS = 5000;
/**
 * On shutdown, requests in flight get this long to be answered and recorded (a batch cut off would be sent again
 * after the restart), then they are abandoned, and the loops get ABANDON_WAIT_MS more to end.
 */
const FINISH_GRACE_MS = 5000;
const ABANDON_WAIT_MS = 2000;

/**
 * Runs one delivery loop per webhook that has rows waiting, at most DISPATCH_CONCURRENCY at once. A webhook is
 * leased in Postgres by one instance at a time, so several dispatchers share the work and keep each queue's order.
 */
@Injectable()
export class DeliveryScheduler implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly repo: DeliveryRepository;
  /** Webhooks this instance is delivering: what abandons each loop, and until when its lease is known to hold. */
  private readonly active = new Map<string, { controller: AbortController; leaseUntil: number }>();
  /** Webhooks whose loop failed unexpectedly, with when they may be claimed again. */
  private readonly coolingDown = new Map<string, number>();
  private readonly timers: NodeJS.Timeout[] = [];
  /** Webhooks claimed again while their loop was ending (its success emptied the queue and let the lease go). */
  private readonly reclaimed = new Map<string, number>();
  private claiming: Promise<void> | null = null;
  private claimAgain = false;
  /** The last claim filled every free slot: more webhooks may be due, so a loop that ends looks for them. */
  private saturated = false;
  private stopped = false;
  private readonly claims: OutageLog;
  /** Aborted on shutdown: each loop ends after its attempt in flight instead of starting another. */
  private readonly finishing = new AbortController();

  constructor(
    store: DeliveryStore,
    private readonly delivery: WebhookDelivery,
    @Inject(CONFIG) private readonly config: EngineConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.repo = store.repo;
    this.claims = new OutageLog(logger, 'claim webhooks');
  }

  onApplicationBootstrap(): void {
    this.timers.push(
      repeatLogged(this.logger, 'look for due webhooks', CLAIM_EVERY_MS, () => this.poke()),
      repeatLogged(this.logger, 'renew leases', RENEW_EVERY_MS, () => this.renewLeases()),
      repeatLogged(this.logger, 'watch for cleared queues', WATCH_EVERY_MS, () => this.watchGenerations()),
    );
    this.poke();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    this.finishing.abort();
    await this.claiming;
    if (this.active.size > 0) this.logger.info('finishing requests in flight', { count: this.active.size });
    // leases are still renewed and generations still watched meanwhile, so a clear or a lost lease still abandons
    if (!(await this.loopsEnded(FINISH_GRACE_MS))) {
      for (const { controller } of this.active.values()) controller.abort(new Error('dispatcher shutting down'));
      await this.loopsEnded(ABANDON_WAIT_MS);
    }
    this.timers.forEach(clearInterval);
  }

  private async loopsEnded(withinMs: number): Promise<boolean> {
    const deadline = Date.now() + withinMs;
    while (this.active.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return this.active.size === 0;
  }

  /** New rows were queued: look for due webhooks now rather than at the next tick. */
  poke(): void {
    if (this.stopped) return;
    if (this.claiming) {
      this.claimAgain = true;
      return;
    }
    this.claiming = this.claimLoop().finally(() => (this.claiming = null));
  }

  private async claimLoop(): Promise<void> {
    do {
      this.claimAgain = false;
      await this.claims.run(() => this.claim());
    } while (this.claimAgain && !this.stopped);
  }

  private async claim(): Promise<void> {
    const free = this.config.dispatchConcurrency - this.active.size;
    if (this.stopped) return;
    this.saturated = free <= 0;
    if (this.saturated) return;
    const now = Date.now();
    for (const [id, until] of this.coolingDown) if (until <= now) this.coolingDown.delete(id);
    // a running loop holds its webhook's lease, so the claim only gets it back once that loop's success has let the
    // lease go: rows queued since then are delivered by a new loop as soon as the old one has ended
    const ids = await this.repo.claimDue(this.owner, now, LEASE_MS, [...this.coolingDown.keys()], free);
    const leaseUntil = now + LEASE_MS;
    this.saturated = ids.length >= free;
    const handedBack: Array<Promise<void>> = [];
    for (const id of ids) {
      if (this.active.has(id)) this.reclaimed.set(id, leaseUntil);
      // claimed while shutting down: handed back at once, not when the lease runs out
      else if (this.stopped) handedBack.push(this.repo.releaseLease(this.owner, id));
      else this.start(id, leaseUntil);
    }
    await Promise.all(handedBack);
  }

  private start(webhookId: string, leaseUntil: number): void {
    const controller = new AbortController();
    this.active.set(webhookId, { controller, leaseUntil });
    this.delivery
      .deliverQueue(webhookId, this.owner, controller.signal, this.finishing.signal)
      .catch((err) => {
        this.coolingDown.set(webhookId, Date.now() + COOL_DOWN_MS);
        this.logger.error('delivery loop failed', { webhookId, err });
        return false;
      })
      .then(async (released) => {
        this.active.delete(webhookId);
        const reclaimed = this.reclaimed.get(webhookId);
        this.reclaimed.delete(webhookId);
        if (reclaimed !== undefined && !this.stopped && !this.coolingDown.has(webhookId)) return this.start(webhookId, reclaimed);
        if (reclaimed !== undefined || !released) await this.repo.releaseLease(this.owner, webhookId).catch(() => undefined);
        // a freed slot matters only when every slot was taken; rows queued after a queue was emptied come with
        // intake's poke, and a loop that stopped has nothing due (a claim now could only take it again at once)
        if (this.saturated) this.poke();
      });
  }

  /** Abandons the loops of webhooks cleared, disabled or deleted since they started. */
  private async watchGenerations(): Promise<void> {
    const watched = [...this.active.entries()];
    if (watched.length === 0) return;
    const current = await this.repo.generations(watched.map(([id]) => id));
    for (const [id, { controller }] of watched) {
      const started = this.delivery.generationOf(id);
      if (started !== undefined && current.get(id) !== started) controller.abort(new Error('queue cleared, webhook disabled or deleted'));
    }
  }

  /**
   * Renews the running loops' leases. A loop whose lease another instance took over, or whose lease may run out
   * before the next renewal (the database unreachable meanwhile), is abandoned with its request: once the lease is
   * gone another instance may deliver the webhook, and two must never deliver it at once.
   */
  async renewLeases(): Promise<void> {
    const ids = [...this.active.keys()];
    if (ids.length === 0) return;
    // checked on every tick, not only once the renewal answers: a database that hangs instead of failing (a network
    // partition) would otherwise keep a loop and its request past the lease, while another instance takes over
    this.abandonExpiring(ids, null);
    // taken before the renewal: the lease it sets on the database's clock runs at least this long
    const until = Date.now() + LEASE_MS;
    let renewed: Set<string> | null = null;
    try {
      renewed = new Set(await this.repo.renewLeases(this.owner, ids, LEASE_MS));
    } finally {
      for (const id of ids) {
        const loop = this.active.get(id);
        if (loop && renewed?.has(id)) loop.leaseUntil = until;
      }
      this.abandonExpiring(ids, renewed);
    }
  }

  /** Abandons the loops among `ids` whose lease was not renewed (`renewed`, when known) or may run out soon. */
  private abandonExpiring(ids: string[], renewed: Set<string> | null): void {
    const now = Date.now();
    for (const id of ids) {
      const loop = this.active.get(id);
      if (!loop) continue;
      // not renewed: taken over, or let go by a success that emptied the queue (that loop is ending anyway)
      const lost = renewed !== null && !renewed.has(id);
      if (lost || loop.leaseUntil - RENEW_EVERY_MS <= now) loop.controller.abort(new Error('lease lost or about to run out'));
    }
  }
}
