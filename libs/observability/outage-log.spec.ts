import { createLogger } from './logger';
import { OutageLog } from './outage-log';

describe('OutageLog', () => {
  it.each<[string, boolean[], string[]]>([
    ['never failing: nothing', [true, true], []],
    ['an outage of many retries: one line when it starts, one when it ends', [true, false, false, false, true, true], ['warn could not claim webhooks; retrying, logged again once it works', 'info could claim webhooks again']],
    ['two outages: two pairs', [false, true, false, true], ['warn could not claim webhooks; retrying, logged again once it works', 'info could claim webhooks again', 'warn could not claim webhooks; retrying, logged again once it works', 'info could claim webhooks again']],
    ['still failing: the start only', [false, false], ['warn could not claim webhooks; retrying, logged again once it works']],
  ])('%s', async (_name, outcomes, expected) => {
    const lines: Array<Record<string, unknown>> = [];
    const outage = new OutageLog(createLogger({}, 'debug', (line) => lines.push(JSON.parse(line))), 'claim webhooks', { app: 'x' });
    for (const ok of outcomes) {
      await outage.run(async () => {
        if (!ok) throw new Error('database down');
      });
    }
    expect(lines.map((l) => `${l.level} ${l.msg}`)).toEqual(expected);
    expect(lines.every((l) => l.app === 'x')).toBe(true);
    expect(lines.filter((l) => l.level === 'warn').every((l) => (l.err as { message: string }).message === 'database down')).toBe(true);
  });
});
