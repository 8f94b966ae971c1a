// The supervisor page: figures for a range and four charts, drawn as inline SVG.

import * as api from './api.js';
import { formatDuration, h, replace, svg } from './dom.js';
import { on, state } from './state.js';

const RANGES = [
  { id: 'today', label: 'Today', days: 1 },
  { id: '7d', label: '7 days', days: 7 },
  { id: '30d', label: '30 days', days: 30 },
];
const REFRESH_DELAY_MS = 1000; // gathers a burst of dialog changes into one reload
const CHART_WIDTH = 480;
const BAR_COLOR = '#2563eb';

export function mountStats(root) {
  let range = RANGES[0];
  let timer = null;
  let loading = 0; // answers of older requests are dropped

  const buttons = RANGES.map((r) =>
    h('button', {
      type: 'button',
      class: 'btn small',
      'data-testid': `range-${r.id}`,
      'aria-pressed': String(r === range),
      text: r.label,
      onclick: () => {
        range = r;
        buttons.forEach((b, i) => b.setAttribute('aria-pressed', String(RANGES[i] === r)));
        load();
      },
    }),
  );
  const body = h('div', { class: 'stats-body', 'aria-live': 'polite' });
  replace(
    root,
    h('header', { class: 'stats-header' }, [
      h('h2', { text: 'Statistics' }),
      h('div', { class: 'range', role: 'group', 'aria-label': 'Range' }, buttons),
      h('button', {
        type: 'button',
        class: 'btn small',
        'data-testid': 'stats-refresh',
        text: 'Refresh',
        onclick: () => load(),
      }),
    ]),
    body,
  );

  async function load() {
    const ticket = ++loading;
    const { since, until, days } = bounds(range);
    root.setAttribute('aria-busy', 'true');
    try {
      const data = await api.statistics({ since: since.toISOString(), until: until.toISOString() });
      if (ticket === loading) replace(body, ...statsView(data, days));
    } catch (error) {
      if (ticket === loading)
        replace(body, h('p', { class: 'form-error', role: 'alert', text: error.message }));
    } finally {
      if (ticket === loading) root.removeAttribute('aria-busy');
    }
  }

  on('view', () => {
    if (state.view === 'stats') load();
  });
  // While the page is open, dialogs that change change the figures.
  on('dialogs', () => {
    if (state.view !== 'stats') return;
    clearTimeout(timer);
    timer = setTimeout(load, REFRESH_DELAY_MS);
  });
}

/** Local midnight `days - 1` days ago until now, and the days in between (YYYY-MM-DD). */
function bounds(range) {
  const until = new Date();
  const since = new Date(until.getFullYear(), until.getMonth(), until.getDate() - (range.days - 1));
  const days = [];
  for (let d = new Date(since); d <= until; d.setDate(d.getDate() + 1)) days.push(isoDay(d));
  return { since, until, days };
}

function isoDay(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

function operatorName(id) {
  const operator = state.operators.get(id);
  return operator ? operator.name : id;
}

function statsView(data, days) {
  const overall = data.overall;
  const ratings = overall.ratings || { count: 0, average: null, by_score: {} };
  const openNow = Object.values(data.open_by_operator || {}).reduce((a, b) => a + b, 0);
  const tiles = h('div', { class: 'tiles' }, [
    tile('Dialogs', String(overall.dialogs), 'stat-dialogs'),
    tile('Open now', String(openNow), 'stat-open'),
    tile(
      'First response (median)',
      formatDuration(overall.first_response && overall.first_response.median),
      'stat-first-response',
    ),
    tile(
      'Handle time (median)',
      formatDuration(overall.handle_time && overall.handle_time.median),
      'stat-handle-time',
    ),
    tile(
      'Rating',
      ratings.count ? `${(ratings.average || 0).toFixed(1)} / 5 (${ratings.count})` : '–',
      'stat-rating',
    ),
  ]);

  // Fill the days without dialogs, so the time axis has no gaps.
  const perDay = new Map(days.map((d) => [d, 0]));
  for (const row of data.by_day || []) perDay.set(row.day, row.dialogs);
  const dayPoints = [...perDay.entries()]
    .sort()
    .map(([day, n]) => ({ label: day.slice(5), value: n, text: String(n) }));

  const byOperator = Object.entries(data.by_operator || {});
  const response = byOperator.map(([id, f]) => {
    const seconds = f.first_response && f.first_response.average;
    return { label: operatorName(id), value: seconds || 0, text: formatDuration(seconds) };
  });
  const scores = ['1', '2', '3', '4', '5'].map((s) => {
    const n = (ratings.by_score || {})[s] || 0;
    return { label: '★'.repeat(Number(s)), value: n, text: String(n) };
  });
  // Every operator we know, idle ones too: load is about who has room.
  const loads = new Map([...state.operators.keys()].map((id) => [id, 0]));
  for (const [id, n] of Object.entries(data.open_by_operator || {})) loads.set(id, n);
  const load = [...loads.entries()].map(([id, n]) => ({
    label: operatorName(id),
    value: n,
    text: String(n),
  }));

  return [
    tiles,
    h('div', { class: 'charts' }, [
      chart('Dialogs per day', 'chart-by-day', columnChart(dayPoints)),
      chart('First response per operator (average)', 'chart-first-response', barChart(response)),
      chart('Ratings by score', 'chart-ratings', barChart(scores)),
      chart('Open dialogs per operator', 'chart-load', barChart(load)),
    ]),
  ];
}

function tile(label, value, testid) {
  return h('div', { class: 'tile' }, [
    h('div', { class: 'tile-label', text: label }),
    h('div', { class: 'tile-value', 'data-testid': testid, text: value }),
  ]);
}

function chart(title, testid, drawing) {
  return h('figure', { class: 'chart', 'data-testid': testid }, [
    h('figcaption', { text: title }),
    drawing,
  ]);
}

function noData() {
  return h('p', { class: 'muted', text: 'No data for this range.' });
}

/** Vertical bars along a time axis, value on top of each bar. */
function columnChart(points) {
  if (!points.length) return noData();
  const height = 180;
  const top = 18;
  const bottom = 22;
  const side = 16; // room for the first and last labels
  const max = Math.max(1, ...points.map((p) => p.value));
  const slot = (CHART_WIDTH - 2 * side) / points.length;
  const barWidth = Math.max(2, Math.min(40, slot * 0.7));
  // With many days, label only some of them so the labels do not overlap.
  const labelEvery = Math.ceil(points.length / 10);
  const parts = [
    svg('line', {
      x1: 0,
      x2: CHART_WIDTH,
      y1: height - bottom,
      y2: height - bottom,
      class: 'axis',
    }),
  ];
  points.forEach((p, i) => {
    const barHeight = ((height - top - bottom) * p.value) / max;
    const x = side + i * slot + (slot - barWidth) / 2;
    const y = height - bottom - barHeight;
    parts.push(
      svg(
        'rect',
        {
          x,
          y,
          width: barWidth,
          height: barHeight,
          fill: BAR_COLOR,
          rx: 2,
          'data-label': p.label,
          'data-value': p.value,
        },
        [svg('title', { text: `${p.label}: ${p.text}` })],
      ),
    );
    if (p.value > 0)
      parts.push(
        svg('text', {
          x: x + barWidth / 2,
          y: y - 4,
          'text-anchor': 'middle',
          class: 'value',
          text: p.text,
        }),
      );
    if (i % labelEvery === 0) {
      parts.push(
        svg('text', {
          x: x + barWidth / 2,
          y: height - 6,
          'text-anchor': 'middle',
          class: 'label',
          text: p.label,
        }),
      );
    }
  });
  return svg(
    'svg',
    { viewBox: `0 0 ${CHART_WIDTH} ${height}`, role: 'img', 'aria-label': describe(points) },
    parts,
  );
}

/** Horizontal bars, one row per label, the value written after the bar. */
function barChart(rows) {
  if (!rows.length) return noData();
  const rowHeight = 28;
  const labelWidth = 130;
  const valueWidth = 90;
  const height = rows.length * rowHeight + 4;
  const max = Math.max(1, ...rows.map((r) => r.value));
  const span = CHART_WIDTH - labelWidth - valueWidth;
  const parts = [];
  rows.forEach((r, i) => {
    const y = i * rowHeight + 4;
    const width = (span * r.value) / max;
    parts.push(
      svg('text', {
        x: labelWidth - 8,
        y: y + 15,
        'text-anchor': 'end',
        class: 'label',
        text: r.label,
      }),
    );
    parts.push(
      svg(
        'rect',
        {
          x: labelWidth,
          y,
          width: Math.max(width, r.value > 0 ? 2 : 0),
          height: rowHeight - 8,
          fill: BAR_COLOR,
          rx: 2,
          'data-label': r.label,
          'data-value': r.value,
        },
        [svg('title', { text: `${r.label}: ${r.text}` })],
      ),
    );
    parts.push(svg('text', { x: labelWidth + width + 6, y: y + 15, class: 'value', text: r.text }));
  });
  return svg(
    'svg',
    { viewBox: `0 0 ${CHART_WIDTH} ${height}`, role: 'img', 'aria-label': describe(rows) },
    parts,
  );
}

/** The chart as a sentence for screen readers. */
function describe(points) {
  return points.map((p) => `${p.label}: ${p.text}`).join(', ');
}
