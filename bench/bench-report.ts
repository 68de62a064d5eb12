/**
 * BenchRow is one figure of a benchmark run, Hindsight beside its competitor on the same data in
 * the same run; `ratio` is hindsight / competitor, and `better` says which way is good.
 */
export interface BenchRow {
  scenario: string;
  metric: string;
  unit: string;
  better: 'higher' | 'lower';
  hindsight: number | null;
  competitor: number | null;
  competitorName: string;
  ratio: number | null;
  status: 'ok' | 'failed' | 'skipped';
  note?: string;
}

/** row builds a BenchRow and computes its ratio when both sides have a figure. */
export function row(fields: Omit<BenchRow, 'ratio' | 'status'> & { status?: BenchRow['status'] }): BenchRow {
  const { hindsight, competitor } = fields;
  const ratio = hindsight !== null && competitor !== null && competitor !== 0 ? hindsight / competitor : null;
  return { ...fields, ratio, status: fields.status ?? 'ok' };
}

/** failedRow records a scenario that failed or was skipped, with the reason. */
export function failedRow(scenario: string, status: 'failed' | 'skipped', note: string): BenchRow {
  return {
    scenario,
    metric: '-',
    unit: '',
    better: 'higher',
    hindsight: null,
    competitor: null,
    competitorName: '-',
    ratio: null,
    status,
    note,
  };
}

/** formatTable renders rows as an aligned plain-text table for the terminal. */
export function formatTable(rows: BenchRow[]): string {
  const header = ['scenario', 'metric', 'hindsight', 'competitor', 'vs', 'ratio H/C', 'status'];
  const lines = rows.map((r) => [
    r.scenario,
    `${r.metric}${r.unit ? ` (${r.unit})` : ''}${r.better === 'lower' ? ' ↓' : ' ↑'}`,
    fmt(r.hindsight),
    fmt(r.competitor),
    r.competitorName,
    r.ratio === null ? '-' : r.ratio.toFixed(2),
    r.status === 'ok' ? 'ok' : `${r.status}: ${r.note ?? ''}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const render = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [render(header), render(widths.map((w) => '-'.repeat(w))), ...lines.map(render)].join('\n');
}

/** fmt prints a figure with three significant digits, or '-' for none. */
export function fmt(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return '-';
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  return Number(v.toPrecision(3)).toString();
}

/** percentile returns the p-th percentile (0–100, nearest rank) of `values`. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}
