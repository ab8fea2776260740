/**
 * Integration tier: brings the local stack up once per run through the same script as `npm run stack:up`
 * (a no-op when it is already up) and exposes its connection lines to the tests.
 */
const { up, readEnv } = require('../../scripts/stack');

module.exports = async () => {
  if (!process.env.KAFKA_BROKERS || !process.env.DATABASE_URL) {
    await up();
    const env = readEnv();
    process.env.KAFKA_BROKERS = process.env.KAFKA_BROKERS || env.KAFKA_BROKERS;
    process.env.DATABASE_URL = process.env.DATABASE_URL || env.DATABASE_URL;
  }
};
