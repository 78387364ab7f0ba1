import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON logs on stdout; every line of a request or job carries its `requestId`. */
export function createLogger(level: string, name: string): Logger {
  return pino({ level, name, base: { service: name } });
}
