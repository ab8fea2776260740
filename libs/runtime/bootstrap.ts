import 'reflect-metadata';
import { AddressInfo } from 'node:net';
import { DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { AppName, ConfigError, loadConfig } from '../config';
import { createLogger, Logger, MetricsRegistry } from '../observability';
import { AppContext, NestJsonLogger } from './core.module';

/** How long a stop may take before it is forced: past the dispatcher's grace for requests in flight. */
const SHUTDOWN_DEADLINE_MS = 20_000;
/**
 * A second signal this soon after the first is the same stop: Ctrl-C reaches every process of the terminal's group
 * while a supervisor (npm start) sends its own SIGTERM, and forcing then would cut off requests in flight.
 */
const SAME_STOP_MS = 2_000;
const STOP_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

/**
 * Starts one app: config validated first (a bad value stops it, naming the variable), then the Nest module,
 * HTTP on HOST:PORT, and a clean stop on SIGTERM/SIGINT (exit code 0).
 */
export async function runApp(
  app: AppName,
  moduleFor: (ctx: AppContext) => DynamicModule,
  configure: (nest: NestExpressApplication, ctx: AppContext) => void = () => undefined,
): Promise<void> {
  let config;
  try {
    config = loadConfig(app, process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    // one JSON line like every other, on stderr: the app never started, nothing else of it is logged
    const stderr = createLogger({ app }, 'error', (line) => process.stderr.write(`${line}\n`));
    stderr.error('invalid configuration', { problems: err.problems });
    process.exit(1);
  }
  const logger = createLogger({ app }, config.logLevel);
  const ctx: AppContext = { config, logger, metrics: new MetricsRegistry() };
  try {
    const nest = await NestFactory.create<NestExpressApplication>(moduleFor(ctx), {
      logger: new NestJsonLogger(logger),
      bodyParser: false,
    });
    configure(nest, ctx);
    nest.enableShutdownHooks(STOP_SIGNALS, { useProcessExit: true });
    forceStopWhenStuck(logger);
    await nest.listen(config.port, config.host);
    const { port } = nest.getHttpServer().address() as AddressInfo;
    logger.info('started', { url: `http://${config.host}:${port}` });
  } catch (err) {
    logger.error('could not start', { err });
    process.exit(1);
  }
}

/**
 * A stop waiting on a dependency that never answers (a query on a frozen connection) must still end: it is forced
 * after SHUTDOWN_DEADLINE_MS, or at once on a later signal, which Nest alone would ignore.
 */
function forceStopWhenStuck(logger: Logger): void {
  let firstAt: number | null = null;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (firstAt !== null) {
      if (Date.now() - firstAt < SAME_STOP_MS) return;
      logger.warn('stopping now: second signal', { signal });
      process.exit(1);
    }
    firstAt = Date.now();
    logger.info('stopping', { signal });
    setTimeout(() => {
      logger.error('stopping now: the clean stop did not finish in time', { deadlineMs: SHUTDOWN_DEADLINE_MS });
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS).unref();
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
}
