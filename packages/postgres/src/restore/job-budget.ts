/**
 * The `jobs` connections' worth of work of a parallel restore, shared by the data loads and the index
 * and key builds that start while data still loads, so no more than `jobs` statements run at once
 * (like `pg_restore -j`). A build that can run goes before the next data artifact: the builds of the
 * largest tables, loaded first, are the longest path of the restore.
 */
export class JobBudget {
  private used = 0;
  private readonly waiting = new Set<() => void>();
  /** True when a build is ready to take a freed slot; it then gets it (see `onFree`). */
  buildWaiting: () => boolean = () => false;
  /** Called first when a slot is freed, synchronously, so a waiting build takes it before a data load. */
  onFree: () => void = () => {};

  constructor(readonly limit: number) {}

  canLoad(): boolean {
    return this.used < this.limit && !this.buildWaiting();
  }

  canBuild(): boolean {
    return this.used < this.limit;
  }

  take(): void {
    this.used++;
  }

  give(): void {
    this.used--;
    this.onFree();
    this.changed();
  }

  /** Wakes whoever waits for a slot (also after a failure, so they see it). */
  changed(): void {
    const waiting = [...this.waiting];
    this.waiting.clear();
    for (const wake of waiting) wake();
  }

  /** Resolves at the next change. */
  next(): Promise<void> {
    return new Promise((resolve) => this.waiting.add(resolve));
  }
}
