import { setFlagsFromString } from 'node:v8';

/**
 * Bounds how far V8 lets the heap grow between full garbage collections: the next one starts once the heap is
 * `percent` % larger than what survived the last (V8's --heap-growing-percent, read at the end of every full
 * collection, so setting it at start-up is enough). 0 leaves V8's own heuristic.
 *
 * Why: V8's heuristic lets the old generation grow up to 4x the live heap (about 45 MB here) when collections look
 * cheap next to the allocation rate. Under sustained 100-row pages, while each request still promoted about 240 KB
 * (see BoundedClient), that meant 160-190 MB of old generation before each full collection and 285-350 MB RSS; at
 * 50 % the same load peaked at 180-200 MB, for 5-10 % more CPU on that load. With promotion down to about 50 KB per
 * request the heuristic alone peaked at about 190 MB in a 30 s run; 50 % keeps the bound for longer and heavier
 * runs (about 175 MB), now at little cost. `npm run bench` reports the peak RSS (README, Performance).
 */
export function applyHeapGrowingPercent(
  percent: number,
  setFlags: (flags: string) => void = setFlagsFromString,
): void {
  if (percent > 0) setFlags(`--heap-growing-percent=${percent}`);
}
