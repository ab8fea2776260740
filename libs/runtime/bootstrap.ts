import 'reflect-metadata';
import { AddressInfo } from 'node:net';
import { DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { AppName, ConfigError, loadConfig } from '../config';
import { createLogger, MetricsRegistry } from '../observability';
import { AppContext, NestJsonLogger } from './core.module';

/**
 * Starts one app: config validated first (a bad value stops it, naming the variable), then the Nest module,
 * HTTP on HOST:PORT, and a clean stop on SIGTERM/SIGINT.
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
    process.stderr.write(`${app}: ${err.message}\n`);
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
    nest.enableShutdownHooks(['SIGTERM', 'SIGINT']);
    await nest.listen(config.port, config.host);
    const { port } = nest.getHttpServer().address() as AddressInfo;
    logger.info('started', { url: `http://${config.host}:${port}` });
  } catch (err) {
    logger.error('could not start', { err });
    process.exit(1);
  }
}
