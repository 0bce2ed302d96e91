/**
 * Bar charts as inline SVG, drawn on the server: no chart framework, no script, and nothing the
 * strict CSP would block (geometry and colours are SVG attributes, not CSS). The view draws the
 * rectangles this computes; each bar carries its own text for screen readers and tooltips.
 */
export interface BarSeries {
  readonly name: string;
  /** An SVG fill colour. */
  readonly colour: string;
}

export interface ChartBar {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  readonly colour: string;
  readonly title: string;
}

export interface BarChart {
  readonly width: number;
  readonly height: number;
  readonly bars: readonly ChartBar[];
  /** Labels under the axis, a few of them, so they do not collide. */
  readonly labels: readonly { readonly x: number; readonly text: string }[];
  readonly max: number;
}

const padding = { top: 8, bottom: 20, side: 4 };

/** Bars side by side per point (one per series), scaled to the largest value; a flat chart when everything is zero. */
export function barChart(
  points: readonly { readonly label: string; readonly values: readonly number[] }[],
  series: readonly BarSeries[],
  size: { width: number; height: number; labelEvery: number },
): BarChart {
  const max = Math.max(1, ...points.flatMap((point) => point.values));
  const slot = (size.width - 2 * padding.side) / Math.max(1, points.length);
  const barWidth = (slot * 0.8) / series.length;
  const plotHeight = size.height - padding.top - padding.bottom;
  const bars = points.flatMap((point, index) => series.map((one, seriesIndex) => {
    const value = point.values[seriesIndex] ?? 0;
    const height = (value / max) * plotHeight;
    return {
      x: round(padding.side + index * slot + slot * 0.1 + seriesIndex * barWidth),
      y: round(padding.top + plotHeight - height),
      width: round(barWidth),
      height: round(height),
      colour: one.colour,
      title: `${point.label}: ${one.name} ${value}`,
    };
  }));
  const labels = points
    .map((point, index) => ({ x: round(padding.side + index * slot + slot / 2), text: point.label }))
    .filter((_, index) => index % size.labelEvery === 0 || index === points.length - 1);
  return { width: size.width, height: size.height, bars, labels, max };
}

const round = (value: number) => Math.round(value * 10) / 10;
