/** How deep JSON may nest in a body or filter: jsonb and class-transformer both recurse, and would overflow. */
export const MAX_JSON_DEPTH = 100;

/** Whether `value` nests deeper than `limit` levels, found without recursion (the value may be 30,000 deep). */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [unknown, number];
    if (node === null || typeof node !== 'object') continue;
    if (depth >= limit) return true;
    for (const child of Object.values(node as Record<string, unknown>)) stack.push([child, depth + 1]);
  }
  return false;
}
