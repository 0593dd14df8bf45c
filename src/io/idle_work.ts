/**
 * Work a thread puts off until it has nothing better to do: until one of its
 * requests has gone to an origin and the answer is awaited (the origin's
 * time, in which the event loop would only wait), or {@linkcode MAX_DELAY_MS}
 * at the latest.
 *
 * A client that sends its next request as soon as it has the last response
 * finds hoard still busy with that response's bookkeeping: 2,000 sequential
 * intercepted misses, pinned, had hoard busy for about 150 µs (median) after
 * each response went out, and each next request had been waiting when it
 * looked (`perf` on its system calls). What can wait, waits for one of
 * these moments instead of standing in that request's way.
 *
 * @module
 */

/** The longest a task waits for an idle moment, ms. */
export const MAX_DELAY_MS = 2;

const tasks = new Set<() => void>();
// Armed by the first task put off and left to fire even when an idle moment
// came first: a timer made and cleared for every task put off took 8 µs of
// each small miss (against 1 µs now, timed in place).
let timer: ReturnType<typeof setTimeout> | undefined;

/**
 * Runs `task` at this thread's next idle moment. `task` must not throw.
 * Adding a task already waiting changes nothing.
 */
export function whenIdle(task: () => void): void {
  tasks.add(task);
  timer ??= setTimeout(onTimer, MAX_DELAY_MS);
}

/** Takes back `task`, if it has not run yet. */
export function notWhenIdle(task: () => void): void {
  tasks.delete(task);
  if (tasks.size === 0) stopTimer();
}

/** An idle moment: runs every task put off until now. */
export function runIdleWork(): void {
  if (tasks.size === 0) return;
  const due = [...tasks];
  tasks.clear();
  for (const task of due) task();
}

function onTimer(): void {
  timer = undefined;
  runIdleWork();
}

function stopTimer(): void {
  if (timer === undefined) return;
  clearTimeout(timer);
  timer = undefined;
}
