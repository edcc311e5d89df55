import { Counter, type Registry } from 'prom-client';

/**
 * A counter whose series live in a Float64Array indexed by a dense integer key.
 *
 * prom-client hashes the label object on every inc(), which costs far more than the rest of the hot
 * path; here the hot path is one array increment and the label objects are built only at scrape time.
 * Each series is exposed once it is non-zero or has been `show()`n (created at zero at start-up).
 */
export class DenseCounter {
  readonly values: Float64Array;
  private readonly visible: Uint8Array;
  private readonly labelCache: (Record<string, string> | undefined)[];
  readonly counter: Counter<string>;

  constructor(
    registry: Registry,
    name: string,
    help: string,
    labelNames: readonly string[],
    size: number,
    readonly labelsOf: (index: number) => Record<string, string>,
  ) {
    this.values = new Float64Array(size);
    this.visible = new Uint8Array(size);
    this.labelCache = new Array<Record<string, string> | undefined>(size);
    const self = this;
    this.counter = new Counter({
      name,
      help,
      labelNames: [...labelNames],
      registers: [registry],
      collect() {
        self.publish(this);
      },
    });
  }

  add(index: number, n = 1): void {
    this.values[index] = (this.values[index] ?? 0) + n;
  }

  /** Exposes a series at its current value (0 at start-up) so rate() works from the first scrape. */
  show(index: number): void {
    this.visible[index] = 1;
  }

  /** Calls fn for every series that is exposed, with its labels and value. */
  forEach(fn: (labels: Record<string, string>, value: number, index: number) => void): void {
    const { values, visible } = this;
    for (let i = 0; i < values.length; i++) {
      const v = values[i] as number;
      if (v === 0 && visible[i] === 0) continue;
      fn(this.labels(i), v, i);
    }
  }

  private labels(i: number): Record<string, string> {
    let l = this.labelCache[i];
    if (!l) {
      l = this.labelsOf(i);
      this.labelCache[i] = l;
    }
    return l;
  }

  private publish(c: Counter<string>): void {
    c.reset();
    this.forEach((labels, value) => c.inc(labels, value));
  }
}
