/** Prometheus metrics in the text exposition format, kept in memory (no client library needed for this few). */

type Labels = Record<string, string>;

interface Series {
  help: string;
  type: 'counter' | 'gauge';
  values: Map<string, { labels: Labels; value: number }>;
}

export class Metrics {
  private readonly series = new Map<string, Series>();

  counter(name: string, help: string): (labels?: Labels, by?: number) => void {
    const s = this.define(name, help, 'counter');
    return (labels = {}, by = 1) => this.add(s, labels, by);
  }

  gauge(name: string, help: string): { set(labels: Labels, v: number): void; reset(): void } {
    const s = this.define(name, help, 'gauge');
    return { set: (labels, v) => void s.values.set(key(labels), { labels, value: v }), reset: () => s.values.clear() };
  }

  render(): string {
    const out: string[] = [];
    for (const [name, s] of this.series) {
      out.push(`# HELP ${name} ${s.help}`, `# TYPE ${name} ${s.type}`);
      for (const { labels, value } of s.values.values()) out.push(`${name}${formatLabels(labels)} ${value}`);
    }
    return out.join('\n') + '\n';
  }

  private define(name: string, help: string, type: Series['type']): Series {
    const s = this.series.get(name) ?? { help, type, values: new Map() };
    this.series.set(name, s);
    return s;
  }

  private add(s: Series, labels: Labels, by: number): void {
    const k = key(labels);
    const cur = s.values.get(k) ?? { labels, value: 0 };
    cur.value += by;
    s.values.set(k, cur);
  }
}

function key(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort());
}

function formatLabels(labels: Labels): string {
  const entries = Object.entries(labels);
  if (!entries.length) return '';
  const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
  return `{${entries.map(([k, v]) => `${k}="${esc(v)}"`).join(',')}}`;
}

/** The metrics `shipshape serve` exposes. */
export function reconcilerMetrics(m = new Metrics()) {
  return {
    registry: m,
    runs: m.counter('shipshape_runs_total', 'Reconcile runs, by mode (apply|drift) and result (ok|failed|skipped)'),
    runSeconds: m.counter('shipshape_run_seconds_total', 'Seconds spent in reconcile runs'),
    lastRunSeconds: m.gauge('shipshape_last_run_duration_seconds', 'Duration of the last run'),
    lastRunTimestamp: m.gauge('shipshape_last_run_timestamp_seconds', 'When the last run ended (unix time)'),
    changes: m.counter('shipshape_changes_applied_total', 'Changes applied, by action and resource kind'),
    failures: m.counter('shipshape_failures_total', 'Systems that failed a step, by resource kind and outcome code'),
    drift: m.gauge('shipshape_drift_fields', 'Fields that differ from the manifests, per system (drift)'),
    installSeconds: m.gauge('shipshape_install_duration_seconds', 'Duration of the last OS installation, per system'),
    feedChanges: m.counter(
      'shipshape_change_feed_resources_total',
      'Resources a change feed reported changed, by kind and whether they now differ from the manifests (drifted=true|false)',
    ),
  };
}
export type ReconcilerMetrics = ReturnType<typeof reconcilerMetrics>;
