/**
 * What a promise settles to within a time, or LATE: for tests that a call no longer waits (a check
 * that blocked on a named pipe, a review or probe that waited for a slow refresh read). The timer
 * is cleared either way, so it never keeps Jest waiting.
 */
export const LATE = Symbol('late');

export async function within<T>(work: Promise<T>, ms: number): Promise<T | typeof LATE> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<typeof LATE>((resolve) => {
    timer = setTimeout(() => {
      resolve(LATE);
    }, ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}
