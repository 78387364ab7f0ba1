// Globals the k6 runtime provides that @types/k6 does not declare
// (the k6 tsconfig has no DOM or Node lib).
declare global {
  var console: {
    log(...args: unknown[]): void;
    info(...args: unknown[]): void;
    warn(...args: unknown[]): void;
    error(...args: unknown[]): void;
    debug(...args: unknown[]): void;
  };
}

export {};
