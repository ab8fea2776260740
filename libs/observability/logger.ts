/** Structured JSON logs, one line each, with the ids that matter bound into child loggers. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(bindings: LogFields): Logger;
}

type Sink = (line: string) => void;

export function createLogger(
  bindings: LogFields,
  level: LogLevel = 'info',
  sink: Sink = (line) => process.stdout.write(line + '\n'),
): Logger {
  const write = (lvl: LogLevel, msg: string, fields?: LogFields): void => {
    if (RANK[lvl] < RANK[level]) return;
    const entry: LogFields = { time: new Date().toISOString(), level: lvl, ...bindings, msg, ...fields };
    if (entry.err instanceof Error) entry.err = { message: entry.err.message, name: entry.err.name, stack: entry.err.stack };
    sink(JSON.stringify(entry));
  };
  return {
    debug: (msg, fields) => write('debug', msg, fields),
    info: (msg, fields) => write('info', msg, fields),
    warn: (msg, fields) => write('warn', msg, fields),
    error: (msg, fields) => write('error', msg, fields),
    child: (more) => createLogger({ ...bindings, ...more }, level, sink),
  };
}

/** Longest Kafka message key a log line carries: a key is the publisher's to choose, and may be huge. */
const KEY_CHARS = 200;

/** A Kafka message key as a log field: its UTF-8 text, cut to KEY_CHARS characters; null when it has none. */
export function keyForLog(key: Buffer | null | undefined): string | null {
  return key ? key.toString('utf8').slice(0, KEY_CHARS) : null;
}
