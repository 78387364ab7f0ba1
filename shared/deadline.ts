/** `work`, or a rejection once `ms` have passed without an answer (the work itself goes on). */
export function withDeadline<T>(work: Promise<T>, ms: number, what = 'work'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/** Whether `work` settled (either way) within `ms`. */
export function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), ms); });
  return Promise.race([work.then(() => true, () => true), late]).finally(() => clearTimeout(timer));
}
