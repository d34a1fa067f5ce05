/**
 * Writes metric families in the Prometheus text exposition format (version 0.0.4) or OpenMetrics
 * 1.0, straight into byte chunks: HELP and TYPE lines, label escaping, value spelling, and the
 * two places the formats differ for what we expose: a counter family is named without `_total`
 * in OpenMetrics (its samples keep it), HELP escapes `"` there too, and the text ends with `# EOF`.
 * The report families use it instead of prom-client gauges: at 10,000 certificate files a gauge
 * per family built ~120,000 label objects and hash keys per rendering, garbage that left the
 * exporter at 292 MB RSS after 200 scrapes; writing lines as they come: 198 MB (bench:scan setup).
 * It does not hold state between renderings or check names.
 */

/** Label values of one sample; undefined values are left out, like an unset label. */
export type Labels = Readonly<Record<string, string | undefined>>;

/** `text`: Prometheus text 0.0.4; `openmetrics`: OpenMetrics 1.0.0. */
export const EXPOSITION_FORMATS = ['text', 'openmetrics'] as const;
export type ExpositionFormat = (typeof EXPOSITION_FORMATS)[number];

export const CONTENT_TYPES: Record<ExpositionFormat, string> = {
  text: 'text/plain; version=0.0.4; charset=utf-8',
  openmetrics: 'application/openmetrics-text; version=1.0.0; charset=utf-8',
};

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary';

/** A sample as prom-client's `metric.get()` gives it: `metricName` for a histogram's `_bucket`, `_sum`, `_count`. */
export interface RawSample {
  metricName?: string;
  labels: Readonly<Record<string, string | number | undefined>>;
  value: number;
}

const CHUNK_CHARS = 64 * 1024;

const escapeHelp = (text: string) => text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
/** Most values need no escaping: one test instead of three replacements (a tenth of a /probe rendering). */
const escapeLabel = (value: string) => (/[\\\n"]/.test(value) ? escapeHelp(value).replace(/"/g, '\\"') : value);

/** Prometheus spells the non-finite values this way (prom-client writes NaN as "Nan"; both parse). */
function valueText(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function labelText(names: readonly string[], labels: Labels): string {
  let text = '';
  for (const name of names) {
    const value = labels[name];
    if (value === undefined) continue;
    text += `${text ? ',' : ''}${name}="${escapeLabel(value)}"`;
  }
  return text ? `{${text}}` : '';
}

/** HELP and TYPE of a gauge family, escaped once: families are few and rendered on every /probe request. The same text in both formats (no `"` in our HELP). */
const headers = new Map<string, string>();
function headerOf(name: string, help: string): string {
  let header = headers.get(name);
  if (header === undefined) {
    header = `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} gauge`;
    headers.set(name, header);
  }
  return header;
}

export class TextWriter {
  private readonly chunks: Buffer[] = [];
  private pending: string[] = [];
  private pendingChars = 0;

  /** Report families are gauges whose HELP has no `"`: their text is the same in both formats (a test checks it). */
  constructor(private readonly format: ExpositionFormat = 'text') {}

  /**
   * One gauge family: its HELP and TYPE lines, then one line per sample, labels in `labelNames`
   * order (other keys of a sample are not written). Samples are written as given: the caller
   * yields each label set once (a Report has one entry per file, domain and endpoint), since
   * Prometheus rejects a scrape with a duplicate series whole, and remembering every label set to
   * drop repeats would keep ~120,000 strings alive through each rendering at 10,000 files.
   */
  gauge(name: string, help: string, labelNames: readonly string[], samples: Iterable<readonly [Labels, number]>, options: { omitEmpty?: boolean } = {}): void {
    let header = !options.omitEmpty;
    if (header) this.line(headerOf(name, help));
    for (const [labels, value] of samples) {
      if (!header) this.line(headerOf(name, help));
      header = true;
      this.line(`${name}${labelText(labelNames, labels)} ${valueText(value)}`);
    }
  }

  /**
   * Any family as prom-client holds it (the live registry's counters, gauges, histograms and
   * summaries); labels in each sample's own order. A counter is registered with its `_total`: in
   * OpenMetrics the family drops it and every sample carries it.
   */
  family(name: string, help: string, type: MetricType, samples: Iterable<RawSample>): void {
    const openCounter = type === 'counter' && this.format === 'openmetrics';
    const family = openCounter ? name.replace(/_total$/, '') : name;
    this.header(family, help, type);
    for (const sample of samples) {
      const sampleName = openCounter ? `${family}_total` : (sample.metricName ?? name);
      const labels = Object.fromEntries(Object.entries(sample.labels).map(([k, v]) => [k, v === undefined ? undefined : String(v)]));
      this.line(`${sampleName}${labelText(Object.keys(labels), labels)} ${valueText(sample.value)}`);
    }
  }

  /** OpenMetrics' end marker; nothing in the text format. */
  end(): void {
    if (this.format === 'openmetrics') this.line('# EOF');
  }

  /** The text written so far, as chunks to send in order. */
  finish(): Buffer[] {
    this.flush();
    return this.chunks;
  }

  private header(name: string, help: string, type: MetricType): void {
    const escaped = this.format === 'openmetrics' ? escapeLabel(help) : escapeHelp(help);
    this.line(`# HELP ${name} ${escaped}`);
    this.line(`# TYPE ${name} ${type}`);
  }

  private line(text: string): void {
    this.pending.push(text);
    this.pendingChars += text.length + 1;
    if (this.pendingChars >= CHUNK_CHARS) this.flush();
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    this.chunks.push(Buffer.from(`${this.pending.join('\n')}\n`));
    this.pending = [];
    this.pendingChars = 0;
  }
}
