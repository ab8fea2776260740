/** The engine's apps as child processes (`node dist/apps/<app>/main.js`), their /metrics, and their peak memory. */
import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { appNodeOptions } from '../libs/runtime/app-process';
import { ROOT } from './infra';
import { freePort } from '../libs/testing/free-port';
import { waitFor } from './util';

export type AppName = 'config-api' | 'matcher' | 'dispatcher';

/** Highest VmHWM (peak resident set) seen per app over every instance the bench ran, in bytes. */
export const peakRss: Record<AppName, number> = { 'config-api': 0, matcher: 0, dispatcher: 0 };

const LOG_TAIL = 40;

/** Peak resident set of a live process, from /proc (Linux); null elsewhere. */
function vmHwm(pid: number): number | null {
  try {
    const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

export class App {
  private readonly logs: string[] = [];
  private readonly exited: Promise<unknown[]>;
  private stopping = false;

  private constructor(
    readonly name: AppName,
    readonly url: string,
    private readonly child: ChildProcess,
  ) {
    this.exited = once(child, 'exit');
    // the apps log JSON lines at LOG_LEVEL=warn; only a tail is kept, to explain a crash
    for (const stream of [child.stdout!, child.stderr!]) {
      readline.createInterface({ input: stream }).on('line', (line) => {
        this.logs.push(line);
        if (this.logs.length > LOG_TAIL) this.logs.shift();
      });
    }
  }

  static async start(name: AppName, env: Record<string, string>): Promise<App> {
    // LOG_LEVEL=warn hides the "started" line, so the bench picks the port itself
    const port = await freePort();
    // BENCH_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") go to every app: node refuses them in NODE_OPTIONS
    const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const child = spawn(process.execPath, [...nodeArgs, path.join(ROOT, 'dist/apps', name, 'main.js')], {
      env: { PATH: process.env.PATH ?? '', NODE_OPTIONS: appNodeOptions(process.env), ...env, PORT: String(port), HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const app = new App(name, `http://127.0.0.1:${port}`, child);
    try {
      await waitFor(
        `${name} to answer /health`,
        async () => {
          app.assertRunning();
          return (await fetch(`${app.url}/health`).catch(() => null))?.status === 200;
        },
        60_000,
        100,
      );
    } catch (err) {
      // nobody else holds this process yet
      child.kill('SIGKILL');
      throw err;
    }
    return app;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Throws, with the last log lines, when the app died on its own. */
  assertRunning(): void {
    if (this.stopping || (this.child.exitCode === null && this.child.signalCode === null)) return;
    throw new Error(`${this.name} exited (${this.child.exitCode ?? this.child.signalCode}):\n${this.logs.join('\n')}`);
  }

  /** Every unlabelled sample of /metrics, plus `<name>:sum` summing a metric's labelled series. */
  async metrics(): Promise<Map<string, number>> {
    this.assertRunning();
    const text = await (await fetch(`${this.url}/metrics`)).text();
    const values = new Map<string, number>();
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      const space = line.lastIndexOf(' ');
      const series = line.slice(0, space);
      const value = Number(line.slice(space + 1));
      const brace = series.indexOf('{');
      if (brace < 0) values.set(series, value);
      else values.set(`${series.slice(0, brace)}:sum`, (values.get(`${series.slice(0, brace)}:sum`) ?? 0) + value);
    }
    return values;
  }

  async metric(name: string): Promise<number> {
    return (await this.metrics()).get(name) ?? 0;
  }

  /** Records the peak memory, then SIGTERM and waits for the exit (SIGKILL after 20 s). */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const hwm = vmHwm(this.pid);
    if (hwm !== null) peakRss[this.name] = Math.max(peakRss[this.name], hwm);
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const killer = setTimeout(() => this.child.kill('SIGKILL'), 20_000);
    await this.exited;
    clearTimeout(killer);
  }
}
