import { setFlagsFromString } from 'node:v8';

/**
 * Bounds how far V8 lets the heap grow between full garbage collections: the next one starts once the heap is
 * `percent` % larger than what survived the last (V8's --heap-growing-percent, read at the end of every full
 * collection, so setting it at start-up is enough). 0 leaves V8's own heuristic.
 *
 * Why: V8's heuristic grows the old generation up to 4x the live heap when collections look cheap next to the
 * allocation rate, which is exactly the case under a load of 100-row pages (each promotes about 200 KB of
 * short-lived objects): the live heap is about 45 MB, and the old generation reached 160-190 MB before each full
 * collection, peaking the process at 285-350 MB RSS. At 50 % the same load peaked at about 180-200 MB, for about
 * 5-10 % more CPU per request on that load (more frequent, mostly concurrent, marking of a small live heap); lighter
 * requests allocate too little for it to matter. `npm run bench` reports the peak RSS (README, Performance).
 */
export function applyHeapGrowingPercent(
  percent: number,
  setFlags: (flags: string) => void = setFlagsFromString,
): void {
  if (percent > 0) setFlags(`--heap-growing-percent=${percent}`);
}
