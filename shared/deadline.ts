/** `work`, or a rejection once `ms` have passed without an answer (the work itself goes on). */
export function withDeadline<T>(work: Promise<T>, ms: number, what = 'work'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/** Whether `work` settled (either way) within `ms`. */
export const settlesWithin = (work: Promise<unknown>, ms: number): Promise<boolean> =>
  withDeadline(work, ms).then(() => true, (err: Error) => !/timed out after/.test(err.message));
