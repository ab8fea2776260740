#!/usr/bin/env node
/**
 * Runs the engine on the local default: the stack (Kafka + Postgres) up, a build, and the three apps, their JSON
 * logs prefixed by app name. Ctrl-C stops the apps (the stack stays up: `npm run stack:down` stops it).
 * Env: the variables of SPEC section 8; ADMIN_API_KEY defaults to "dev-admin-key" and ALLOWED_WEBHOOK_DOMAINS to
 * "localhost" plus the demo receiver's port here, so the demo works out of the box. PORT moves the API (config-api);
 * the matcher and dispatcher keep their own ports (8081, 8082): one PORT for all three would collide.
 */
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const path = require('node:path');
const readline = require('node:readline');
const { up, readEnv } = require('./stack');

const ROOT = path.resolve(__dirname, '..');
const APPS = ['config-api', 'matcher', 'dispatcher'];

async function main() {
  await up();
  const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status ?? 1);
  const env = {
    ADMIN_API_KEY: 'dev-admin-key',
    ALLOWED_WEBHOOK_DOMAINS: 'localhost:8099',
    ...readEnv(),
    ...process.env,
  };
  // after the build: the apps' heap limit lives in the engine's own code
  env.NODE_OPTIONS = require(path.join(ROOT, 'dist/libs/runtime/app-process.js')).appNodeOptions(process.env);
  const children = APPS.map((app) => {
    const appEnv = { ...env };
    if (app !== 'config-api') delete appEnv.PORT;
    const child = spawn(process.execPath, [path.join(ROOT, 'dist/apps', app, 'main.js')], { env: appEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of [child.stdout, child.stderr]) {
      readline.createInterface({ input: stream }).on('line', (line) => process.stdout.write(`${app.padEnd(10)} | ${line}\n`));
    }
    child.on('exit', (code, signal) => {
      process.stdout.write(`${app} exited (${signal ?? code})\n`);
      if (!stopping) stop(1);
    });
    return child;
  });
  let stopping = false;
  const stop = (code) => {
    stopping = true;
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    setTimeout(() => process.exit(code), 6000).unref();
    Promise.all(children.map((c) => (c.exitCode !== null ? null : new Promise((r) => c.on('exit', r))))).then(() => process.exit(code));
  };
  process.on('SIGINT', () => stop(0));
  process.on('SIGTERM', () => stop(0));
  const port = env.PORT || 8080;
  process.stdout.write(
    `\nEngine starting. API: http://127.0.0.1:${port}/api (key: ${env.ADMIN_API_KEY === 'dev-admin-key' ? 'dev-admin-key' : '$ADMIN_API_KEY'})\n` +
      `In another terminal: npm run demo\n\n`,
  );
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
