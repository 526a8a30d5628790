/** One Prometheus sample: a metric name, optional labels and a value. */
export interface Sample {
  name: string;
  help: string;
  type: 'gauge' | 'counter';
  values: { labels?: Record<string, string>; value: number }[];
}

const escape = (value: string): string => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/** Prometheus text exposition format 0.0.4. */
export function prometheusText(samples: Sample[]): string {
  const lines: string[] = [];
  for (const sample of samples) {
    lines.push(`# HELP ${sample.name} ${sample.help}`, `# TYPE ${sample.name} ${sample.type}`);
    for (const { labels, value } of sample.values) {
      const rendered = labels
        ? `{${Object.entries(labels)
            .map(([k, v]) => `${k}="${escape(v)}"`)
            .join(',')}}`
        : '';
      lines.push(`${sample.name}${rendered} ${value}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
