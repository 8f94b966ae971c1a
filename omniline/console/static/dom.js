// DOM helpers shared by the console's modules.
//
// Security rule for the whole console: text that comes from the server (message text, names,
// file names, operator names) is only ever put into the page with textContent or as an attribute
// value through setAttribute; nothing is parsed as HTML. Only http(s) and same-origin URLs
// become href or src.

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * Create an element. `attrs` keys: `class`, `text` (textContent), `on<event>` (listener),
 * `dataset` and `style` (objects); anything else becomes an attribute (true -> empty attribute,
 * false/null -> left out). Children may be nodes, strings (as text) or falsy (skipped).
 */
export function h(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  append(node, children);
  return node;
}

/** The same as h() for SVG elements (charts and icons). */
export function svg(tag, attrs = {}, children = []) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttrs(node, attrs);
  append(node, children);
  return node;
}

function setAttrs(node, attrs) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'class') node.setAttribute('class', value);
    else if (name === 'text') node.textContent = String(value);
    else if (name === 'dataset') Object.assign(node.dataset, value);
    // Through CSSOM, not the style attribute: the console's CSP allows no inline styles.
    else if (name === 'style') Object.assign(node.style, value);
    else if (name.startsWith('on') && typeof value === 'function') {
      node.addEventListener(name.slice(2), value);
    } else node.setAttribute(name, value === true ? '' : String(value));
  }
}

function append(node, children) {
  for (const child of [].concat(children)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace all children of `node`. */
export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

/** Rebuild part of the page without losing the keyboard focus: a control inside `container`
 * that had it gets it back when the rebuilt part has a control with the same data-testid. */
export function keepingFocus(container, rebuild) {
  const active = document.activeElement;
  const testid = active && container.contains(active) ? active.dataset.testid : null;
  rebuild();
  if (!testid) return;
  const again = container.querySelector(`[data-testid="${CSS.escape(testid)}"]`);
  if (again && !again.disabled) again.focus();
}

// --- icons ----------------------------------------------------------------------------------

const ICONS = {
  back: 'M15.4 7.4 14 6l-6 6 6 6 1.4-1.4L10.8 12z',
  clip: 'M16.5 6v11.5a4 4 0 0 1-8 0V5a2.5 2.5 0 0 1 5 0v10.5a1 1 0 0 1-2 0V6H10v9.5a2.5 2.5 0 0 0 5 0V5a4 4 0 0 0-8 0v12.5a5.5 5.5 0 0 0 11 0V6h-1.5z',
  send: 'M3.4 20.4l17.45-7.48a1 1 0 0 0 0-1.84L3.4 3.6a.99.99 0 0 0-1.39.91L2 9.12c0 .5.37.93.87.99L17 12 2.87 13.88c-.5.07-.87.5-.87 1l.01 4.61c0 .71.73 1.2 1.39.91z',
  pin: 'M12 2a7 7 0 0 0-7 7c0 5.2 7 13 7 13s7-7.8 7-13a7 7 0 0 0-7-7zm0 9.5a2.5 2.5 0 1 1 0-5 2.5 2.5 0 0 1 0 5z',
  user: 'M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zm0 2c-2.7 0-8 1.3-8 4v2h16v-2c0-2.7-5.3-4-8-4z',
};

/** A decorative 24x24 icon from ICONS. */
export function icon(name) {
  return svg(
    'svg',
    { viewBox: '0 0 24 24', 'aria-hidden': 'true', focusable: 'false', class: 'icon' },
    [svg('path', { d: ICONS[name] })],
  );
}

// One mark per channel type: a coloured circle with a small glyph, readable at 16 px.
const CHANNELS = {
  webchat: { label: 'Web chat', color: '#2563eb', glyph: 'M6 7h12v7H10l-4 3z' },
  telegram: {
    label: 'Telegram',
    color: '#229ed9',
    glyph: 'M5 11.5 18 6.5l-2.3 11-4-3-2 2v-3l6-5.5-7.5 4.5z',
  },
  vk: {
    label: 'VK',
    color: '#0077ff',
    glyph:
      'M5 8h2.2c.4 2.3 1.5 3.9 2.3 4.2V8h2v2.6c.8-.1 1.7-1.3 2.1-2.6h2c-.3 1.6-1.5 2.9-2.3 3.4.8.4 2.1 1.4 2.6 3.6h-2.2c-.4-1.2-1.3-2.2-2.2-2.3V15h-.3C7.5 15 5.3 12.4 5 8z',
  },
  viber: {
    label: 'Viber',
    color: '#7360f2',
    glyph: 'M8 6h8a2 2 0 0 1 2 2v5a2 2 0 0 1-2 2h-4l-3 3v-3H8a2 2 0 0 1-2-2V8a2 2 0 0 1 2-2z',
  },
};

/** A small badge for a channel type (webchat, telegram, vk, viber or any other). */
export function channelBadge(channel) {
  const type = (channel && channel.type) || 'unknown';
  const known = CHANNELS[type];
  const label = known ? known.label : type;
  const title = channel && channel.account ? `${label} (${channel.account})` : label;
  const mark = known
    ? svg('svg', { viewBox: '0 0 24 24', 'aria-hidden': 'true', focusable: 'false' }, [
        svg('circle', { cx: 12, cy: 12, r: 12, fill: known.color }),
        svg('path', { d: known.glyph, fill: '#fff' }),
      ])
    : h('span', { 'aria-hidden': 'true', text: type.slice(0, 2).toUpperCase() });
  return h(
    'span',
    {
      class: `channel channel-${known ? type : 'other'}`,
      role: 'img',
      'aria-label': title,
      title,
      'data-channel': type,
    },
    [mark],
  );
}

// --- formatting -----------------------------------------------------------------------------

/** A stable, readable colour for a client, so the same client looks the same everywhere. */
export function clientColor(clientId) {
  const key = String(clientId);
  let hash = 0;
  for (let i = 0; i < key.length; i++) hash = (hash * 31 + key.charCodeAt(i)) >>> 0;
  // Multiply by a large odd number so neighbouring ids land far apart on the colour wheel.
  const hue = (hash * 137) % 360;
  return `hsl(${hue} 65% 35%)`;
}

export function clientName(dialog) {
  return (dialog.client && dialog.client.name) || `Client #${dialog.client_id}`;
}

export function formatTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  const time = date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (date.toDateString() === new Date().toDateString()) return time;
  return `${date.toLocaleDateString([], { month: 'short', day: 'numeric' })}, ${time}`;
}

/** Seconds as "45 s", "3 min 05 s" or "2 h 10 min". */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return '–';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

export function formatSize(bytes) {
  if (!bytes && bytes !== 0) return '';
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** The URL when it is http(s) (absolute or relative to this page), otherwise null. */
export function safeUrl(raw) {
  if (typeof raw !== 'string' || !raw) return null;
  try {
    const url = new URL(raw, document.baseURI);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

// --- storage --------------------------------------------------------------------------------

/** localStorage that falls back to memory where storage is blocked. */
export const storage = {
  memory: new Map(),
  getJSON(key, fallback) {
    try {
      const raw = window.localStorage.getItem(key);
      if (raw !== null) return JSON.parse(raw);
    } catch {
      /* blocked storage or bad JSON: use memory */
    }
    return this.memory.has(key) ? this.memory.get(key) : fallback;
  },
  setJSON(key, value) {
    this.memory.set(key, value);
    try {
      window.localStorage.setItem(key, JSON.stringify(value));
    } catch {
      /* memory only */
    }
  },
};
