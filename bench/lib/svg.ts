/**
 * The latency chart, written by hand as SVG: panels of "latency by percentile" curves (the
 * HdrHistogram layout: percentile on a log "nines" axis, so p50, p90, p99 and p99.9 get equal room;
 * latency on a log axis). No chart library.
 */
import type { Samples } from './stats.js';

export interface Series {
  readonly label: string;
  readonly samples: Samples;
  readonly color: string;
  readonly dashed?: boolean;
}

export interface Panel {
  readonly title: string;
  readonly unit: 'µs' | 'ms';
  readonly series: readonly Series[];
}

const WIDTH = 520;
const HEIGHT = 400;
const M = { left: 62, right: 16, top: 44, bottom: 118 };
/** The percentile axis: 0 .. 99.9 as -log10(1 - p). */
const NINES_MAX = 3;
const PERCENTILE_TICKS = [
  { p: 0, label: 'p0' },
  { p: 50, label: 'p50' },
  { p: 90, label: 'p90' },
  { p: 99, label: 'p99' },
  { p: 99.9, label: 'p99.9' },
];

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const nines = (p: number): number => -Math.log10(1 - p / 100);
const fmt = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(0) : v >= 1 ? v.toFixed(1).replace(/\.0$/, '') : v.toPrecision(1));

function panel(p: Panel, x0: number): string {
  const w = WIDTH - M.left - M.right;
  const h = HEIGHT - M.top - M.bottom;
  const percentiles: number[] = [];
  for (let t = 0; t <= NINES_MAX + 1e-9; t += 0.025) percentiles.push(100 * (1 - 10 ** -t));
  const curves = p.series.filter((s) => s.samples.count > 0).map((s) => ({ s, points: percentiles.map((q) => ({ q, v: s.samples.percentile(q) })) }));
  const values = curves.flatMap((c) => c.points.map((pt) => pt.v)).filter((v) => v > 0 && Number.isFinite(v));
  const lo = 10 ** Math.floor(Math.log10(Math.min(...values, 1e9)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...values, 1e-9)));
  const X = (q: number): number => x0 + M.left + (nines(q) / NINES_MAX) * w;
  const Y = (v: number): number => M.top + h - ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * h;
  const out: string[] = [];
  out.push(`<text x="${x0 + M.left}" y="24" class="title">${esc(p.title)}</text>`);
  out.push(`<rect x="${x0 + M.left}" y="${M.top}" width="${w}" height="${h}" class="frame"/>`);
  for (let decade = lo; decade <= hi * 1.0001; decade *= 10) {
    for (const m of [1, 2, 5]) {
      const v = decade * m;
      if (v < lo || v > hi * 1.0001) continue;
      const y = Y(v).toFixed(1);
      out.push(`<line x1="${x0 + M.left}" x2="${x0 + M.left + w}" y1="${y}" y2="${y}" class="${m === 1 ? 'grid major' : 'grid'}"/>`);
      out.push(`<text x="${x0 + M.left - 6}" y="${y}" class="ylabel">${fmt(v)}</text>`);
    }
  }
  for (const t of PERCENTILE_TICKS) {
    const x = X(t.p).toFixed(1);
    out.push(`<line x1="${x}" x2="${x}" y1="${M.top}" y2="${M.top + h}" class="grid"/>`);
    out.push(`<text x="${x}" y="${M.top + h + 16}" class="xlabel">${t.label}</text>`);
  }
  out.push(`<text x="${x0 + 16}" y="${M.top + h / 2}" class="axis" transform="rotate(-90 ${x0 + 16} ${M.top + h / 2})">${p.unit} per call (log)</text>`);
  out.push(`<text x="${x0 + M.left + w / 2}" y="${M.top + h + 34}" class="axis">percentile</text>`);
  for (const c of curves) {
    const d = c.points
      .filter((pt) => Number.isFinite(pt.v))
      .map((pt, i) => `${i === 0 ? 'M' : 'L'}${X(pt.q).toFixed(1)},${Y(pt.v).toFixed(1)}`)
      .join('');
    out.push(`<path d="${d}" stroke="${c.s.color}" class="curve"${c.s.dashed === true ? ' stroke-dasharray="6 4"' : ''}/>`);
  }
  for (const [i, c] of curves.slice(0, 8).entries()) {
    const y = M.top + h + 52 + i * 15;
    out.push(`<line x1="${x0 + M.left}" x2="${x0 + M.left + 22}" y1="${y - 4}" y2="${y - 4}" stroke="${c.s.color}" class="curve"${c.s.dashed === true ? ' stroke-dasharray="6 4"' : ''}/>`);
    const median = c.s.samples.median;
    const p99 = c.s.samples.p99;
    out.push(`<text x="${x0 + M.left + 28}" y="${y}" class="legend">${esc(c.s.label)}: p50 ${fmt(median)}, p99 ${fmt(p99)} ${p.unit}</text>`);
  }
  return out.join('\n');
}

/** A complete SVG document with the panels side by side and a footnote. */
export function latencyChart(panels: readonly Panel[], footnote: string): string {
  const width = WIDTH * panels.length;
  const height = HEIGHT + 24;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif">`,
    '<style>',
    '  .title { font-size: 14px; font-weight: 600; fill: #222; }',
    '  .frame { fill: #fff; stroke: #999; }',
    '  .grid { stroke: #e4e4e4; stroke-width: 1; }',
    '  .grid.major { stroke: #c8c8c8; }',
    '  .xlabel { font-size: 11px; fill: #444; text-anchor: middle; }',
    '  .ylabel { font-size: 11px; fill: #444; text-anchor: end; dominant-baseline: middle; }',
    '  .axis { font-size: 11px; fill: #666; text-anchor: middle; }',
    '  .legend { font-size: 11px; fill: #222; }',
    '  .curve { fill: none; stroke-width: 2; }',
    '  .foot { font-size: 10px; fill: #777; }',
    '</style>',
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    ...panels.map((p, i) => panel(p, i * WIDTH)),
    `<text x="12" y="${height - 8}" class="foot">${esc(footnote)}</text>`,
    '</svg>',
    '',
  ].join('\n');
}
