/** The bench's handle on the receiver process (receiver.ts): start, reset per phase, read counts, close. */
import { ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import type { ReceiverCommand, ReceiverReply, ReceiverStats } from './receiver';

type Command = ReceiverCommand extends infer C ? (C extends { id: number } ? Omit<C, 'id'> : never) : never;

export class Receiver {
  private nextId = 1;
  private readonly pending = new Map<number, (reply: ReceiverReply) => void>();

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    readonly hangPort: number,
  ) {
    child.on('message', (reply: ReceiverReply) => {
      this.pending.get(reply.id)?.(reply);
      this.pending.delete(reply.id);
    });
  }

  static async start(): Promise<Receiver> {
    const child = fork(path.join(__dirname, 'receiver.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const ready = await new Promise<ReceiverReply>((resolve, reject) => {
      child.once('message', resolve);
      child.once('exit', (code) => reject(new Error(`the receiver exited with ${code}`)));
    });
    if (ready.type !== 'ready') throw new Error('the receiver did not start');
    return new Receiver(child, ready.port, ready.hangPort);
  }

  /** Base URLs the webhooks point at; `localhost` because the engine allows plain http only there. */
  get url(): string {
    return `http://localhost:${this.port}`;
  }
  get hangUrl(): string {
    return `http://localhost:${this.hangPort}`;
  }

  private call(cmd: Command): Promise<ReceiverReply> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.child.send({ ...cmd, id });
    });
  }

  /** Starts a new phase: the phase counts (and latencies) start from zero. */
  async reset(recordLatency = false): Promise<void> {
    await this.call({ type: 'reset', recordLatency });
  }

  async stats(withLatencies = false): Promise<ReceiverStats> {
    const reply = await this.call({ type: 'stats', withLatencies });
    if (reply.type !== 'stats') throw new Error('unexpected reply from the receiver');
    return reply.stats;
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || !this.child.connected) return;
    await this.call({ type: 'close' });
  }
}
