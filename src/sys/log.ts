/**
 * Logger writes JSON lines `{t, level, mod, msg, ...fields}` to stderr. `msg` is a constant
 * phrase; values go in fields. Fields named like secrets are redacted.
 */
export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  debug(msg: string, fields?: Record<string, unknown>): void;
  child(mod: string): Logger;
}

const SECRET_FIELD = /token|secret|password|key$/i;
const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;
type Level = keyof typeof LEVELS;

/** createLogger returns a Logger for module `mod` writing lines of at least `minLevel`. */
export function createLogger(
  mod: string,
  options: { minLevel?: Level; write?: (line: string) => void } = {},
): Logger {
  const minLevel = options.minLevel ?? (process.env.HINDSIGHT_LOG_LEVEL as Level | undefined) ?? 'info';
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const emit = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    if (LEVELS[level] < (LEVELS[minLevel] ?? 20)) return;
    const rec: Record<string, unknown> = { t: new Date().toISOString(), level, mod, msg };
    for (const [k, v] of Object.entries(fields ?? {})) {
      rec[k] = SECRET_FIELD.test(k) ? '[redacted]' : v instanceof Error ? v.message : v;
    }
    write(`${JSON.stringify(rec)}\n`);
  };
  return {
    info: (msg, f) => emit('info', msg, f),
    warn: (msg, f) => emit('warn', msg, f),
    error: (msg, f) => emit('error', msg, f),
    debug: (msg, f) => emit('debug', msg, f),
    child: (sub) => createLogger(`${mod}.${sub}`, { minLevel, write }),
  };
}
