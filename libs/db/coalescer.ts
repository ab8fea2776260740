interface PendingCall<In, Out> {
  input: In;
  resolve: (out: Out) => void;
  reject: (err: unknown) => void;
}

/**
 * Turns many concurrent calls into few round trips: calls made while `maxInFlight` round trips are running wait and
 * go together in the next one (at most `maxBatch` each). A lone call waits only for the current turn of the event
 * loop. A round trip has a fixed CPU cost whatever it carries, so a hundred delivery loops pay for a few.
 */
export class Coalescer<In, Out> {
  private pending: Array<PendingCall<In, Out>> = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(
    /** Answers one output per input, in the same order. */
    private readonly roundTrip: (inputs: In[]) => Promise<Out[]>,
    private readonly maxInFlight = 2,
    private readonly maxBatch = 100,
  ) {}

  call(input: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.pending.push({ input, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.maxInFlight || this.pending.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.inFlight >= this.maxInFlight || this.pending.length === 0) return;
    const calls = this.pending.splice(0, this.maxBatch);
    this.inFlight++;
    this.schedule();
    try {
      const outputs = await this.roundTrip(calls.map((c) => c.input));
      calls.forEach((c, i) => c.resolve(outputs[i]));
    } catch (err) {
      for (const c of calls) c.reject(err);
    } finally {
      this.inFlight--;
      this.schedule();
    }
  }
}
