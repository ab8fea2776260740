import { LogFields, Logger } from './logger';

/**
 * A task retried on a timer while a dependency is down logs the outage once when it starts and once when it ends,
 * not on every retry: a minute without Postgres must not write hundreds of stack traces.
 */
export class OutageLog {
  private failing = false;

  constructor(
    private readonly logger: Logger,
    /** What fails, as a verb phrase: "claim webhooks". */
    private readonly task: string,
    private readonly fields: LogFields = {},
  ) {}

  /** Runs `work`, logging its first failure and its first success after failures; never throws. */
  async run(work: () => Promise<unknown>): Promise<void> {
    try {
      await work();
      if (this.failing) this.logger.info(`could ${this.task} again`, this.fields);
      this.failing = false;
    } catch (err) {
      if (!this.failing) this.logger.warn(`could not ${this.task}; retrying, logged again once it works`, { ...this.fields, err });
      this.failing = true;
    }
  }
}

/** Runs `task` every `ms`, its failures logged once per outage; the caller clears the returned timer. */
export function repeatLogged(logger: Logger, task: string, ms: number, work: () => Promise<unknown> | void): NodeJS.Timeout {
  const outage = new OutageLog(logger, task);
  return setInterval(() => void outage.run(async () => work()), ms);
}
