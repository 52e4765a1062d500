/**
 * What a Sluice server says it did, read from its Prometheus endpoint: the load generator cannot
 * see what was shed for subscribers that stopped reading (they never read the `gap` frames that
 * announce it), so the server's own counters are the only account of it.
 */
export interface ServerCounters {
  /** Publications the server took in (`sluice_publications_total`). */
  readonly publications: number;
  /** Messages shed for slow consumers, every reason (`sluice_messages_shed_total`). */
  readonly shed: number;
  /** Connections closed 4100 as slow consumers (`sluice_disconnects_total{code="4100"}`). */
  readonly slowConsumerCloses: number;
}

/** Sum of the samples of `name` whose labels start with `labels` (all of them when empty). */
export function metricSum(text: string, name: string, labels = ''): number {
  let sum = 0;
  const prefix = labels === '' ? name : `${name}{${labels}`;
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const rest = line.charAt(name.length);
    if (rest !== ' ' && rest !== '{') continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** Reads the counters from `httpUrl`/metrics; undefined when the server does not answer in time (a core-bound server answers a turn late). */
export async function readServerCounters(httpUrl: string, timeoutMs = 10_000): Promise<ServerCounters | undefined> {
  try {
    const res = await fetch(`${httpUrl}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return undefined;
    const text = await res.text();
    return {
      publications: metricSum(text, 'sluice_publications_total'),
      shed: metricSum(text, 'sluice_messages_shed_total'),
      slowConsumerCloses: metricSum(text, 'sluice_disconnects_total', 'code="4100"'),
    };
  } catch {
    return undefined;
  }
}

/** `stopped` subscribers that stopped reading are now shed for (ten messages each so far) or were all closed as slow consumers. */
export function isShedding(c: ServerCounters | undefined, stopped: number): boolean {
  return c !== undefined && (c.shed >= 10 * stopped || c.slowConsumerCloses >= stopped);
}

export function counterRates(from: ServerCounters, to: ServerCounters, seconds: number): ServerCounters {
  return {
    publications: (to.publications - from.publications) / seconds,
    shed: (to.shed - from.shed) / seconds,
    slowConsumerCloses: (to.slowConsumerCloses - from.slowConsumerCloses) / seconds,
  };
}

export function counterDelta(from: ServerCounters, to: ServerCounters): ServerCounters {
  return counterRates(from, to, 1);
}
