// A panel's chart: Chart.js drawing what rows.js gives for the canvas's width. The chart
// is updated in place while its type and x kind stay the same, else made anew.

import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  ScatterController,
  Tooltip,
} from 'chart.js';
import { formatTime } from './format.js';

Chart.register(
  BarController, BarElement, CategoryScale, Legend, LinearScale, LineController, LineElement, PointElement,
  ScatterController, Tooltip,
);

/** The Chart.js config for ``points`` (and ``trend``, the mean of a down-sampled line). */
export function chartConfig({ type, xKind, x, y, labels, points, trend }) {
  const categorical = xKind === 'category';
  const chartType = categorical ? 'bar' : type;
  const xScale = categorical
    ? { type: 'category' }
    : {
      type: 'linear',
      bounds: 'data',
      title: { display: true, text: x || 'row' },
      ticks: xKind === 'time' ? { callback: (v) => formatTime(v), maxRotation: 0, autoSkipPadding: 24 } : {},
    };
  const dataset = {
    label: categorical ? `sum of ${y}` : (trend ? `${y} (min/max)` : y),
    data: points,
    borderColor: trend ? 'rgba(31,111,235,0.35)' : '#1f6feb',
    backgroundColor: 'rgba(31,111,235,0.45)',
    borderWidth: 1,
    pointRadius: chartType === 'scatter' ? 1.5 : 0,
    spanGaps: false,
  };
  const datasets = [dataset];
  if (trend) {
    datasets.push({ label: `${y} (mean)`, data: trend, borderColor: '#0b2e6b', borderWidth: 2, pointRadius: 0 });
  }
  return {
    type: chartType,
    data: categorical ? { labels, datasets } : { datasets },
    options: {
      animation: false,
      parsing: categorical ? true : false,
      normalized: true,
      responsive: true,
      maintainAspectRatio: false,
      scales: { x: xScale, y: { title: { display: true, text: y } } },
      plugins: {
        legend: { display: datasets.length > 1 },
        tooltip: xKind === 'time' ? { callbacks: { title: (items) => formatTime(items[0]?.parsed?.x) } } : {},
      },
    },
  };
}

export class ChartView {
  constructor(canvas) {
    this.canvas = canvas;
    this.chart = null;
    this.shape = null;
  }

  /** Draws ``rows`` (rows.js) as a chart of ``type``; the number of points drawn. */
  draw(rows, type) {
    const width = Math.max(100, this.canvas.clientWidth || 600);
    const { labels, points, trend } = rows.chartPoints(type, width);
    const xKind = rows.xKind;
    const config = chartConfig({ type, xKind, x: rows.x, y: rows.y, labels, points, trend });
    const shape = `${config.type}:${xKind}`;
    if (this.chart && this.shape === shape) {
      this.chart.data = config.data;
      this.chart.options = config.options;
      this.chart.update('none');
    } else {
      this.chart?.destroy();
      this.chart = new Chart(this.canvas, config);
      this.shape = shape;
    }
    return points.length;
  }
}
