/**
 * Memoizes a pure function of one string, keeping at most `capacity` results (the oldest is dropped first). For the
 * per-user values a page recomputes on every request (hashes, the initials avatar), which depend only on their
 * input: a cached value is always the value the function would return.
 */
export function memoize(fn: (key: string) => string, capacity = 10_000): (key: string) => string {
  const cache = new Map<string, string>();
  return (key: string): string => {
    let value = cache.get(key);
    if (value === undefined) {
      value = fn(key);
      if (cache.size >= capacity) cache.delete(cache.keys().next().value as string);
      cache.set(key, value);
    }
    return value;
  };
}
