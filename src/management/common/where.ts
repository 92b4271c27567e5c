/**
 * A WHERE clause built from conditions and numbered parameters, for the event list, hand-written for speed at a
 * million events (see bench/RESULTS.md, "Management API (issue 13)", and event-reader.ts).
 */
export class Where {
  readonly params: unknown[] = [];
  private readonly clauses: string[] = [];

  /** Adds a parameter and answers its placeholder (`$3`). */
  param(value: unknown): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }

  add(clause: string): void {
    this.clauses.push(clause);
  }

  toString(): string {
    return this.clauses.length > 0 ? `WHERE ${this.clauses.join(' AND ')}` : '';
  }
}
