/**
 * Configuration is read and validated once at start: a bad value stops the app before it connects to anything,
 * with one JSON line naming the variable (SPEC section 8).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');

describe('a bad configuration value', () => {
  it.each<[string, Record<string, string>, string[]]>([
    ['config-api', { PORT: '70000' }, ['PORT']],
    ['matcher', { TRIGGER_WAIT_DELAY: '1e3', WEBHOOK_BATCH_SIZE: '0' }, ['TRIGGER_WAIT_DELAY', 'WEBHOOK_BATCH_SIZE']],
    ['dispatcher', { DATABASE_URL: 'mysql://localhost/x' }, ['DATABASE_URL']],
  ])('stops %s at once with exit code 1 and one JSON line naming each bad variable of %j', (app, env, names) => {
    const run = spawnSync(process.execPath, [path.join(ROOT, 'dist/apps', app, 'main.js')], {
      env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', ...env },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(run.status).toBe(1);
    const lines = run.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]);
    expect(entry).toMatchObject({ level: 'error', app, msg: 'invalid configuration' });
    expect(entry.problems).toHaveLength(names.length);
    names.forEach((name, i) => expect(entry.problems[i]).toMatch(new RegExp(`^${name} `)));
  });
});
