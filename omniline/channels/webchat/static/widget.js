/*!
 * Omniline web-chat widget.
 *
 * Embed with one tag:
 *   <script src="https://HOST/channels/webchat/ACCOUNT/widget.js" async
 *           data-title="Chat with us" data-color="#2563eb"
 *           data-form="off|optional|required" data-greeting="Hi! How can we help?"></script>
 *
 * Plain ES2019, no dependencies, no build step. Everything is rendered inside an
 * open Shadow DOM so the host page's CSS cannot break the widget (and vice versa).
 *
 * Security: every string that comes from the server (message text, author names,
 * button labels, attachment names) may originate from another visitor or a
 * messenger user, so it is rendered with textContent only; only http(s) URLs
 * ever become href/src.
 *
 * Public API: window.OmnilineChat = { open(), close(), toggle(), setProfile({name, phone, email}) }
 */
(function () {
  'use strict';

  // Loaded twice (e.g. the tag was pasted into a template and a layout)? Keep the first.
  if (window.OmnilineChat) return;

  // ---------------------------------------------------------------------------
  // Constants
  // ---------------------------------------------------------------------------

  const VERSION = '1.0.0';
  const MAX_TEXT = 4096; // server limit, counted in code points like Python's len()
  const COUNTER_FROM = 3800; // show "n/4096" once the visitor gets close to the limit
  const PAGE_LIMIT = 100;
  const MAX_HISTORY_PAGES = 200; // safety net against a misbehaving server
  const REQUEST_TIMEOUT_MS = 15000;
  // Delays between POST retries; after the last one the message is shown as failed
  // (~45 s in total, long enough for a flaky mobile connection to come back).
  const SEND_RETRY_DELAYS = [1000, 2000, 4000, 8000, 15000, 15000];
  const WS_BACKOFF_BASE_MS = 500;
  const WS_BACKOFF_CAP_MS = 15000;
  const PIN_THRESHOLD_PX = 48; // "at the bottom" tolerance for auto-scroll
  const DEFAULTS = { title: 'Chat with us', color: '#2563eb', form: 'optional', greeting: '' };
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const ICONS = {
    chat: 'M20 2H4a2 2 0 0 0-2 2v18l4-4h14a2 2 0 0 0 2-2V4a2 2 0 0 0-2-2zM7 9h10v2H7V9zm6 5H7v-2h6v2zm4-6H7V6h10v2z',
    close: 'M18.3 5.71a1 1 0 0 0-1.41 0L12 10.59 7.11 5.7A1 1 0 0 0 5.7 7.11L10.59 12 5.7 16.89a1 1 0 1 0 1.41 1.41L12 13.41l4.89 4.89a1 1 0 0 0 1.41-1.41L13.41 12l4.89-4.89a1 1 0 0 0 0-1.4z',
    clip: 'M16.5 6v11.5a4 4 0 0 1-8 0V5a2.5 2.5 0 0 1 5 0v10.5a1 1 0 0 1-2 0V6H10v9.5a2.5 2.5 0 0 0 5 0V5a4 4 0 0 0-8 0v12.5a5.5 5.5 0 0 0 11 0V6h-1.5z',
    person: 'M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zm0 2c-2.7 0-8 1.3-8 4v2h16v-2c0-2.7-5.3-4-8-4z',
    send: 'M3.4 20.4l17.45-7.48a1 1 0 0 0 0-1.84L3.4 3.6a.99.99 0 0 0-1.39.91L2 9.12c0 .5.37.93.87.99L17 12 2.87 13.88c-.5.07-.87.5-.87 1l.01 4.61c0 .71.73 1.2 1.39.91z',
  };

  // ---------------------------------------------------------------------------
  // Own script tag, API base and configuration
  // ---------------------------------------------------------------------------

  // currentScript is only set while this file executes synchronously, so read it now.
  const script = findOwnScript();
  if (!script) {
    console.warn('[omniline] widget: could not find its own <script> tag');
    return;
  }
  const API_BASE = deriveApiBase(script.src);
  const config = readConfig(script);
  const KEY = 'omniline:' + API_BASE;
  const keys = {
    session: KEY, // {visitor_id, token}
    open: KEY + ':open', // '1' | '0'
    read: KEY + ':read', // highest business message id the visitor has seen
    form: KEY + ':form', // 'done' | 'skipped'
  };

  function findOwnScript() {
    const current = document.currentScript;
    if (current && current.src) return current;
    const all = document.querySelectorAll('script[src*="/channels/webchat/"][src$="widget.js"]');
    return all.length ? all[all.length - 1] : null;
  }

  // "https://host/channels/webchat/acme/widget.js?v=2" -> "https://host/channels/webchat/acme/"
  function deriveApiBase(src) {
    const url = new URL(src, document.baseURI);
    url.search = '';
    url.hash = '';
    url.pathname = url.pathname.replace(/widget\.js$/, '');
    if (!url.pathname.endsWith('/')) url.pathname += '/';
    return url.href;
  }

  function readConfig(el) {
    const data = el.dataset || {};
    const form = String(data.form || DEFAULTS.form).trim().toLowerCase();
    return {
      title: String(data.title || '').trim() || DEFAULTS.title,
      color: safeColor(data.color) || DEFAULTS.color,
      form: ['off', 'optional', 'required'].indexOf(form) >= 0 ? form : DEFAULTS.form,
      greeting: String(data.greeting || '').trim(),
    };
  }

  // The colour ends up in a CSS custom property; accept only things that are
  // plainly a colour so a data attribute cannot smuggle in other CSS.
  function safeColor(value) {
    if (!value) return null;
    const c = String(value).trim();
    if (!/^[#a-zA-Z0-9(),.%\s/-]{1,64}$/.test(c)) return null;
    if (window.CSS && typeof CSS.supports === 'function' && !CSS.supports('color', c)) return null;
    return c;
  }

  // Pick dark or white text for the brand colour (WCAG relative luminance).
  function textColorOn(color) {
    const m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(color);
    if (!m) return '#ffffff';
    let hex = m[1];
    if (hex.length === 3) hex = hex.split('').map((ch) => ch + ch).join('');
    const lin = [0, 2, 4].map((i) => {
      const v = parseInt(hex.substr(i, 2), 16) / 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    const luminance = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
    return luminance > 0.22 ? '#111827' : '#ffffff';
  }

  // ---------------------------------------------------------------------------
  // Small utilities
  // ---------------------------------------------------------------------------

  // localStorage can throw (Safari private mode, blocked third-party storage);
  // fall back to memory so the widget still works for this page view.
  const memoryStore = Object.create(null);
  const store = {
    get(key) {
      try {
        const v = window.localStorage.getItem(key);
        if (v !== null) return v;
      } catch (e) { /* fall through */ }
      return key in memoryStore ? memoryStore[key] : null;
    },
    set(key, value) {
      memoryStore[key] = String(value);
      try { window.localStorage.setItem(key, String(value)); } catch (e) { /* memory only */ }
    },
    remove(key) {
      delete memoryStore[key];
      try { window.localStorage.removeItem(key); } catch (e) { /* ignore */ }
    },
  };

  // crypto.randomUUID exists only in secure contexts, so plain-http sites need a fallback.
  function uuid() {
    if (window.crypto && typeof window.crypto.randomUUID === 'function') {
      try { return window.crypto.randomUUID(); } catch (e) { /* fall through */ }
    }
    const b = new Uint8Array(16);
    if (window.crypto && typeof window.crypto.getRandomValues === 'function') {
      window.crypto.getRandomValues(b);
    } else {
      for (let i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
    }
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return hex.slice(0, 8) + '-' + hex.slice(8, 12) + '-' + hex.slice(12, 16) + '-' +
      hex.slice(16, 20) + '-' + hex.slice(20);
  }

  // Count like the server (Python len(): code points, not UTF-16 units).
  function textLength(s) {
    return Array.from(s).length;
  }

  const EMAIL_RE = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/;
  function isValidEmail(v) {
    return v.length <= 254 && EMAIL_RE.test(v);
  }
  function isValidPhone(v) {
    if (!/^[0-9+\s\-()]+$/.test(v)) return false;
    const digits = v.replace(/\D/g, '').length;
    return digits >= 6 && digits <= 20;
  }

  // Only http(s) URLs may become links or images; relative URLs are resolved
  // against the API base because that is where the server lives.
  function safeHttpUrl(raw) {
    if (typeof raw !== 'string' || !raw) return null;
    try {
      const url = new URL(raw, API_BASE);
      return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  function formatTime(date) {
    if (!(date instanceof Date) || isNaN(date.getTime())) return '';
    const time = date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    if (date.toDateString() === new Date().toDateString()) return time;
    return date.toLocaleDateString([], { month: 'short', day: 'numeric' }) + ', ' + time;
  }

  function parseDate(iso) {
    const d = typeof iso === 'string' ? new Date(iso) : new Date();
    return isNaN(d.getTime()) ? new Date() : d;
  }

  // Equal-jitter exponential back-off: spreads reconnects of many tabs/visitors
  // after a server restart instead of hammering it in lock-step.
  function backoff(attempt) {
    const ceiling = Math.min(WS_BACKOFF_CAP_MS, WS_BACKOFF_BASE_MS * Math.pow(2, attempt));
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  function jitter(ms) {
    return ms * (0.8 + Math.random() * 0.4);
  }

  // Tiny element builder. Strings become text nodes (never HTML).
  function h(tag, attrs, children) {
    const node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach((name) => {
        const value = attrs[name];
        if (value === null || value === undefined || value === false) return;
        if (name === 'class') node.className = value;
        else if (name === 'text') node.textContent = value;
        else if (name.slice(0, 2) === 'on') node.addEventListener(name.slice(2), value);
        else node.setAttribute(name, value === true ? '' : String(value));
      });
    }
    if (children) children.forEach((c) => { if (c !== null && c !== undefined && c !== false) node.append(c); });
    return node;
  }

  function icon(name, cls) {
    const svg = document.createElementNS(SVG_NS, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    if (cls) svg.setAttribute('class', cls);
    const path = document.createElementNS(SVG_NS, 'path');
    path.setAttribute('d', ICONS[name]);
    svg.appendChild(path);
    return svg;
  }

  // ---------------------------------------------------------------------------
  // Styles (live inside the shadow root)
  // ---------------------------------------------------------------------------

  const CSS_TEXT = `
:host { all: initial; }
*, *::before, *::after { box-sizing: border-box; }
[hidden] { display: none !important; }
.root {
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: #111827;
  -webkit-font-smoothing: antialiased;
  -webkit-text-size-adjust: 100%;
}
button { font: inherit; }
.launcher {
  position: fixed; right: 20px; bottom: 20px; width: 58px; height: 58px;
  border: 0; border-radius: 50%; padding: 0; cursor: pointer;
  background: var(--omni-color); color: var(--omni-on-color);
  box-shadow: 0 6px 24px rgba(0, 0, 0, .22);
  display: flex; align-items: center; justify-content: center;
  transition: transform .15s ease, box-shadow .15s ease;
}
.launcher:hover { transform: scale(1.06); box-shadow: 0 8px 28px rgba(0, 0, 0, .28); }
.launcher:focus-visible { outline: 3px solid var(--omni-color); outline-offset: 3px; }
.launcher svg { width: 28px; height: 28px; fill: currentColor; }
.launcher .icon-close { display: none; width: 24px; height: 24px; }
.is-open .launcher .icon-chat { display: none; }
.is-open .launcher .icon-close { display: block; }
.badge {
  position: absolute; top: -3px; right: -3px; min-width: 22px; height: 22px; padding: 0 6px;
  border-radius: 11px; background: #dc2626; color: #fff; font-size: 12px; font-weight: 700;
  line-height: 22px; text-align: center; box-shadow: 0 0 0 2px #fff;
}
.panel {
  position: fixed; right: 20px; bottom: 92px; width: 380px; height: 620px;
  max-height: calc(100vh - 112px); max-width: calc(100vw - 40px);
  display: flex; flex-direction: column; overflow: hidden;
  background: #fff; border-radius: 16px;
  box-shadow: 0 16px 56px rgba(0, 0, 0, .24), 0 2px 8px rgba(0, 0, 0, .08);
  animation: omni-in .18s ease-out;
}
@keyframes omni-in { from { opacity: 0; transform: translateY(12px); } to { opacity: 1; transform: none; } }
.header {
  flex: none; display: flex; align-items: center; gap: 8px; padding: 12px 10px 12px 18px;
  background: var(--omni-color); color: var(--omni-on-color);
}
.title { flex: 1; margin: 0; font-size: 16px; font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.icon-btn {
  flex: none; width: 36px; height: 36px; border: 0; border-radius: 8px; padding: 0; cursor: pointer;
  background: transparent; color: inherit; display: flex; align-items: center; justify-content: center;
}
.icon-btn:hover { background: rgba(127, 127, 127, .22); }
.icon-btn:focus-visible { outline: 2px solid currentColor; outline-offset: -2px; }
.icon-btn svg { width: 22px; height: 22px; fill: currentColor; }
.status {
  flex: none; padding: 5px 12px; font-size: 12px; text-align: center;
  background: #fef3c7; color: #92400e; border-bottom: 1px solid #fde68a;
}
.form {
  flex: none; display: flex; flex-direction: column; gap: 8px; padding: 12px 14px;
  background: #fff; border-bottom: 1px solid #e5e7eb;
}
.form-title { margin: 0; font-size: 13px; font-weight: 600; }
.form-hint { margin: -4px 0 0; font-size: 12px; color: #6b7280; }
.form-grid { display: grid; grid-template-columns: 1fr 1fr; gap: 8px; }
.field-name { grid-column: 1 / -1; }
.field input {
  width: 100%; padding: 7px 10px; border: 1px solid #d1d5db; border-radius: 8px;
  font: inherit; color: inherit; background: #fff; outline: none;
}
.field input:focus { border-color: var(--omni-color); box-shadow: 0 0 0 1px var(--omni-color); }
.field input[aria-invalid="true"] { border-color: #dc2626; }
.field-error, .form-error { margin-top: 2px; font-size: 12px; color: #dc2626; }
.form-actions { display: flex; justify-content: flex-end; gap: 8px; }
.btn {
  padding: 6px 14px; border: 1px solid transparent; border-radius: 8px; cursor: pointer;
  font-weight: 600; font-size: 13px;
}
.btn:disabled { opacity: .6; cursor: default; }
.btn-primary { background: var(--omni-color); color: var(--omni-on-color); }
.btn-ghost { background: transparent; color: #4b5563; border-color: #d1d5db; }
.btn-ghost:hover { background: #f3f4f6; }
.body { flex: 1; min-height: 0; position: relative; display: flex; background: #f9fafb; }
.messages {
  flex: 1; min-width: 0; overflow-y: auto; overscroll-behavior: contain;
  padding: 16px 14px 10px; display: flex; flex-direction: column; gap: 8px;
}
.empty { margin: auto; max-width: 240px; text-align: center; color: #6b7280; font-size: 13px; }
.msg { display: flex; flex-direction: column; max-width: 82%; }
.msg.in { align-self: flex-end; align-items: flex-end; }
.msg.out { align-self: flex-start; align-items: flex-start; }
.msg.system { align-self: center; align-items: center; max-width: 92%; }
.author { margin: 0 0 2px 6px; font-size: 12px; font-weight: 600; color: #4b5563; }
.bubble {
  padding: 8px 12px; border-radius: 16px; white-space: pre-wrap;
  overflow-wrap: anywhere; word-break: break-word;
}
.in .bubble { background: var(--omni-color); color: var(--omni-on-color); border-bottom-right-radius: 4px; }
.out .bubble { background: #fff; border: 1px solid #e5e7eb; border-bottom-left-radius: 4px; }
.system .bubble { padding: 2px 8px; background: transparent; color: #6b7280; font-size: 12px; text-align: center; }
.bubble a { color: inherit; text-decoration: underline; }
.bubble:empty { display: none; }
.att { display: block; margin-top: 6px; }
.att:first-child { margin-top: 0; }
.att img {
  display: block; max-width: 100%; width: 220px; max-height: 200px; object-fit: cover;
  border-radius: 10px; background: #e5e7eb;
}
.att-file { font-weight: 600; }
.att-missing { font-weight: 400; font-style: italic; opacity: .8; }
.att-link { padding: 6px 10px; border-left: 3px solid currentColor; border-radius: 4px; text-decoration: none !important; }
.att-link .att-title { display: block; font-weight: 600; text-decoration: underline; }
.att-sub { display: block; font-size: 12px; opacity: .75; }
.att-media video { display: block; max-width: 100%; width: 240px; max-height: 200px; border-radius: 10px; background: #000; }
.att-media audio { display: block; max-width: 100%; width: 240px; }
.att-contact { display: flex; align-items: center; gap: 6px; flex-wrap: wrap; }
.att-contact svg { width: 16px; height: 16px; fill: currentColor; flex: none; }
.att-contact .att-title { font-weight: 600; }
.att-file svg { width: 16px; height: 16px; margin-right: 4px; vertical-align: -3px; fill: currentColor; }
.meta { display: flex; align-items: center; gap: 6px; margin: 3px 6px 0; font-size: 11px; color: #9ca3af; white-space: nowrap; }
.meta .state-failed { color: #dc2626; font-weight: 600; }
.fail-reason { margin: 1px 6px 0; font-size: 11px; color: #dc2626; text-align: right; }
.msg[data-state="sending"] .bubble { opacity: .75; }
.msg[data-state="failed"] .bubble { opacity: .6; }
.link-btn {
  padding: 0; border: 0; background: none; cursor: pointer; font-size: 11px;
  color: #2563eb; text-decoration: underline;
}
.jump {
  position: absolute; left: 50%; bottom: 10px; transform: translateX(-50%);
  padding: 5px 12px; border: 0; border-radius: 999px; cursor: pointer; font-size: 12px;
  background: #111827; color: #fff; box-shadow: 0 2px 10px rgba(0, 0, 0, .25);
}
.chips {
  flex: none; max-height: 150px; overflow-y: auto; padding: 8px 12px;
  display: flex; flex-direction: column; gap: 6px;
  background: #f9fafb; border-top: 1px solid #f0f1f3;
}
.chip-row { display: flex; flex-wrap: wrap; gap: 6px; }
.chip {
  padding: 6px 12px; border: 1px solid var(--omni-color); border-radius: 999px; cursor: pointer;
  background: #fff; color: #111827; font-size: 13px; text-align: left; max-width: 100%;
}
.chip:hover, .chip:focus-visible { background: var(--omni-color); color: var(--omni-on-color); outline: none; }
.composer { flex: none; display: flex; align-items: flex-end; gap: 8px; padding: 10px 12px; background: #fff; border-top: 1px solid #e5e7eb; }
.composer textarea {
  flex: 1; min-height: 40px; max-height: 132px; resize: none; padding: 9px 12px;
  border: 1px solid #d1d5db; border-radius: 12px; outline: none;
  font: inherit; color: inherit; background: #fff;
}
.composer textarea:focus { border-color: var(--omni-color); box-shadow: 0 0 0 1px var(--omni-color); }
.composer textarea:disabled { background: #f3f4f6; }
.send {
  flex: none; width: 40px; height: 40px; border: 0; border-radius: 50%; padding: 0; cursor: pointer;
  background: var(--omni-color); color: var(--omni-on-color);
  display: flex; align-items: center; justify-content: center;
}
.send svg { width: 20px; height: 20px; fill: currentColor; }
.send:disabled { opacity: .4; cursor: default; }
.send:focus-visible { outline: 2px solid var(--omni-color); outline-offset: 2px; }
.notes { flex: none; display: flex; gap: 8px; padding: 0 14px 8px; background: #fff; font-size: 12px; }
.notes:empty { display: none; }
.error { flex: 1; color: #dc2626; }
.counter { margin-left: auto; color: #6b7280; }
.counter.over { color: #dc2626; font-weight: 600; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
@media (max-width: 480px) {
  .panel {
    top: 0; left: 0; right: 0; bottom: 0; width: auto; height: auto;
    max-width: none; max-height: none; border-radius: 0;
  }
  .is-open .launcher { display: none; }
  .composer textarea, .field input { font-size: 16px; } /* stops iOS zooming in on focus */
}
@media (prefers-reduced-motion: reduce) {
  .panel { animation: none; }
  .launcher { transition: none; }
}
`;

  // ---------------------------------------------------------------------------
  // State
  // ---------------------------------------------------------------------------

  const state = {
    mounted: false,
    session: null, // {visitor_id, token}
    creating: null, // in-flight POST api/visitors promise
    profile: {}, // contact details known in this page view (setProfile / form)
    open: false,
    seen: new Set(), // server message ids already shown
    lastStreamId: 0, // "after" cursor: only advanced by GET/WS, never by POST acks
    maxInId: 0, // newest visitor message id (chips hide once the visitor answered)
    lastOut: null, // newest business message (source of button chips)
    chipsFor: null, // id whose buttons are currently rendered
    pending: new Map(), // client_message_id -> pending message
    outbox: [], // client_message_ids to POST, in order
    sending: null, // client_message_id currently being POSTed
    retryTimer: null,
    readId: 0,
    pinned: true, // list is scrolled to the bottom
    scrollQueued: false,
    ws: null,
    wsGen: 0, // bumped whenever the connection is torn down; stale callbacks check it
    wsBusy: false, // history catch-up / socket creation in progress
    wsAttempts: 0,
    wsTimer: null,
    conn: 'idle', // idle | connecting | open | offline
    historyLoaded: false,
    formBusy: false,
  };

  const ui = {}; // DOM references, filled by mount()

  // ---------------------------------------------------------------------------
  // HTTP
  // ---------------------------------------------------------------------------

  function apiError(kind, message, extra) {
    const err = new Error(message);
    err.kind = kind; // 'network' | 'auth' | 'http'
    if (extra) Object.assign(err, extra);
    return err;
  }

  function errorFromResponse(res) {
    const e = res.data && typeof res.data === 'object' ? res.data.error : null;
    let message = e && typeof e.message === 'string' && e.message ? e.message : '';
    if (!message) {
      if (res.status === 413) message = 'Message is too long.';
      else if (res.status === 429) message = 'Too many messages. Please wait a moment.';
      else message = 'Something went wrong (' + res.status + ').';
    }
    return apiError(res.status >= 500 || res.status === 429 || res.status === 408 ? 'network' : 'http', message, {
      status: res.status,
      code: e && typeof e.code === 'string' ? e.code : null,
      field: e && typeof e.field === 'string' ? e.field : null,
    });
  }

  // fetch wrapper: throws kind 'network' on transport failure/timeout, kind 'auth'
  // on 401 (after dropping the bad token); otherwise returns {ok, status, data}.
  async function api(method, path, body, opts) {
    const withAuth = !(opts && opts.noAuth);
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let token = null;
    if (withAuth) {
      token = state.session && state.session.token;
      if (!token) throw apiError('auth', 'No session');
      headers.Authorization = 'Bearer ' + token;
    }
    const ctrl = typeof AbortController === 'function' ? new AbortController() : null;
    const timer = ctrl ? setTimeout(() => ctrl.abort(), REQUEST_TIMEOUT_MS) : null;
    let resp;
    let data = null;
    try {
      resp = await fetch(API_BASE + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        mode: 'cors',
        credentials: 'omit', // the bearer token is the only credential; no cookies cross-origin
        cache: 'no-store',
        signal: ctrl ? ctrl.signal : undefined,
      });
      const type = resp.headers.get('Content-Type') || '';
      if (type.indexOf('json') >= 0) {
        try { data = await resp.json(); } catch (e) { data = null; }
      }
    } catch (e) {
      throw apiError('network', 'Network error');
    } finally {
      if (timer) clearTimeout(timer);
    }
    if (withAuth && resp.status === 401) {
      dropSession(token);
      throw apiError('auth', 'Session expired');
    }
    return { ok: resp.ok, status: resp.status, data };
  }

  // ---------------------------------------------------------------------------
  // Session (visitor + token)
  // ---------------------------------------------------------------------------

  function loadStoredSession() {
    const raw = store.get(keys.session);
    if (!raw) return null;
    try {
      const s = JSON.parse(raw);
      if (s && typeof s.token === 'string' && s.token) {
        return { visitor_id: String(s.visitor_id || ''), token: s.token };
      }
    } catch (e) { /* corrupt entry */ }
    store.remove(keys.session);
    return null;
  }

  function adoptSession(session) {
    state.session = session;
    connect();
  }

  // Resolves with a session, creating the visitor on first use. Visitors are only
  // created when needed (first message / form), not on every page view.
  function ensureSession(explicitProfile) {
    if (state.session) return Promise.resolve(state.session);
    const stored = loadStoredSession(); // another tab may have created one meanwhile
    if (stored) {
      adoptSession(stored);
      return Promise.resolve(stored);
    }
    if (!state.creating) {
      state.creating = createVisitor(explicitProfile).finally(() => { state.creating = null; });
    }
    return state.creating;
  }

  async function createVisitor(explicitProfile) {
    const profile = Object.assign({}, state.profile, explicitProfile || {});
    let res = await api('POST', 'api/visitors', profile, { noAuth: true });
    // Details passed via setProfile() must not stop the visitor from chatting:
    // if the server rejects them, start anonymously instead.
    if (res.status === 422 && !explicitProfile && Object.keys(profile).length) {
      res = await api('POST', 'api/visitors', {}, { noAuth: true });
    }
    if (!res.ok) throw errorFromResponse(res);
    const d = res.data || {};
    if (typeof d.token !== 'string' || !d.token) throw apiError('network', 'Unexpected server response');
    const session = { visitor_id: String(d.visitor_id || ''), token: d.token };
    store.set(keys.session, JSON.stringify(session));
    state.readId = 0;
    store.set(keys.read, '0');
    adoptSession(session);
    return session;
  }

  // A 401 means the token is no longer valid: forget it (only if nobody replaced
  // it meanwhile) and the conversation shown for it.
  function dropSession(badToken) {
    if (!state.session || state.session.token !== badToken) return;
    const stored = loadStoredSession();
    if (stored && stored.token === badToken) store.remove(keys.session);
    resetConversation();
  }

  // Forget everything tied to the current visitor, but keep unsent messages:
  // they will be re-sent for the next visitor.
  function resetConversation() {
    state.session = null;
    closeSocket();
    state.seen.clear();
    state.lastStreamId = 0;
    state.maxInId = 0;
    state.lastOut = null;
    state.historyLoaded = false;
    state.readId = 0;
    state.pending.forEach((p) => { p.posted = false; });
    if (ui.list) {
      Array.prototype.slice.call(ui.list.querySelectorAll('[data-id]')).forEach((el) => el.remove());
      refreshChips();
      refreshEmpty();
      updateUnread();
    }
    setConn('idle');
  }

  // ---------------------------------------------------------------------------
  // Receiving: history + WebSocket
  // ---------------------------------------------------------------------------

  // Catch up over HTTP first (this also validates the token, which a failed
  // WebSocket handshake cannot tell us), then open the socket from that point.
  async function connect() {
    if (!state.session || !state.mounted || state.ws || state.wsBusy) return;
    clearTimeout(state.wsTimer);
    state.wsTimer = null;
    const gen = ++state.wsGen;
    state.wsBusy = true;
    setConn(state.wsAttempts === 0 && state.conn !== 'offline' ? 'connecting' : 'offline');
    try {
      await loadHistory(gen);
    } catch (e) {
      if (gen !== state.wsGen) return; // torn down meanwhile (e.g. 401 -> reset)
      state.wsBusy = false;
      scheduleReconnect();
      return;
    }
    if (gen !== state.wsGen) return;
    let ws;
    try {
      ws = new WebSocket(wsUrl());
    } catch (e) {
      state.wsBusy = false;
      scheduleReconnect();
      return;
    }
    state.ws = ws;
    state.wsBusy = false;
    ws.onopen = () => {
      if (gen !== state.wsGen) return;
      state.wsAttempts = 0;
      setConn('open');
    };
    ws.onmessage = (ev) => {
      if (gen === state.wsGen) handleFrame(ev.data);
    };
    ws.onerror = () => { /* a close event always follows */ };
    ws.onclose = () => {
      if (gen !== state.wsGen) return;
      state.ws = null;
      scheduleReconnect();
    };
  }

  function wsUrl() {
    return API_BASE.replace(/^http/, 'ws') + 'api/ws?token=' + encodeURIComponent(state.session.token) +
      '&after=' + state.lastStreamId;
  }

  function scheduleReconnect() {
    if (!state.session) return;
    setConn('offline');
    clearTimeout(state.wsTimer);
    const delay = backoff(state.wsAttempts);
    state.wsAttempts += 1;
    state.wsTimer = setTimeout(() => {
      state.wsTimer = null;
      connect();
    }, delay);
  }

  function closeSocket() {
    state.wsGen += 1; // invalidates callbacks of the old socket and any catch-up in flight
    state.wsBusy = false;
    clearTimeout(state.wsTimer);
    state.wsTimer = null;
    if (state.ws) {
      const ws = state.ws;
      state.ws = null;
      ws.onclose = null;
      try { ws.close(1000); } catch (e) { /* ignore */ }
    }
  }

  // Network came back / tab became visible: don't wait for the back-off timer.
  function reconnectNow() {
    if (!state.session || state.ws || state.wsBusy) return;
    state.wsAttempts = 0;
    connect();
  }

  async function loadHistory(gen) {
    for (let page = 0; page < MAX_HISTORY_PAGES; page++) {
      const before = state.lastStreamId;
      const res = await api('GET', 'api/messages?after=' + before + '&limit=' + PAGE_LIMIT);
      if (gen !== state.wsGen) return;
      if (!res.ok) throw errorFromResponse(res);
      const messages = res.data && Array.isArray(res.data.messages) ? res.data.messages : [];
      messages.forEach((raw) => receive(raw, { live: state.historyLoaded }));
      if (messages.length < PAGE_LIMIT || state.lastStreamId === before) break;
    }
    state.historyLoaded = true;
  }

  function handleFrame(data) {
    let frame;
    try { frame = JSON.parse(data); } catch (e) { return; }
    if (!frame || typeof frame !== 'object') return;
    if (frame.type === 'message') {
      receive(frame.message, { live: true });
    } else if (frame.type === 'ack') {
      const p = state.pending.get(String(frame.client_message_id));
      const id = Number(frame.message_id);
      if (p && Number.isSafeInteger(id)) markSent(p, id, null);
    }
  }

  // Validate and normalise a WireMessage; the server relays data from other parties.
  function normalize(raw) {
    if (!raw || typeof raw !== 'object') return null;
    const id = Number(raw.id);
    if (!Number.isSafeInteger(id)) return null;
    const buttons = Array.isArray(raw.buttons) ? raw.buttons : [];
    return {
      id,
      direction: raw.direction === 'in' ? 'in' : 'out',
      author: typeof raw.author === 'string' ? raw.author : '',
      author_name: typeof raw.author_name === 'string' && raw.author_name.trim() ? raw.author_name : null,
      text: typeof raw.text === 'string' ? raw.text : null,
      buttons: buttons
        .map((row) => (Array.isArray(row) ? row : [row]).filter((b) =>
          b && typeof b === 'object' && typeof b.text === 'string' && b.text &&
          (typeof b.payload === 'string' || typeof b.payload === 'number')))
        .filter((row) => row.length),
      attachments: Array.isArray(raw.attachments) ? raw.attachments.filter((a) => a && typeof a === 'object') : [],
      contact: raw.contact && typeof raw.contact === 'object' && typeof raw.contact.phone === 'string'
        ? { phone: raw.contact.phone, name: typeof raw.contact.name === 'string' ? raw.contact.name : null }
        : null,
      button_payload: typeof raw.button_payload === 'string' ? raw.button_payload : null,
      created_at: parseDate(raw.created_at),
    };
  }

  function receive(raw, opts) {
    const m = normalize(raw);
    if (!m) return;
    if (m.id > state.lastStreamId) state.lastStreamId = m.id;
    if (state.seen.has(m.id)) return;
    if (m.direction === 'in') {
      // The echo of our own message can overtake the POST response; the wire
      // message has no client_message_id, so match it to the in-flight message.
      const p = findPendingEcho(m);
      if (p) {
        markSent(p, m.id, m.created_at);
        return;
      }
    }
    addMessage(m, opts);
  }

  function findPendingEcho(m) {
    const text = (m.text || '').trim();
    let found = null;
    state.pending.forEach((p) => {
      if (found || !p.posted || p.ackedId !== null) return;
      if (text === p.display || (p.payload !== null && text === p.payload)) found = p;
    });
    return found;
  }

  // ---------------------------------------------------------------------------
  // Rendering messages
  // ---------------------------------------------------------------------------

  function addMessage(m, opts) {
    state.seen.add(m.id);
    const el = renderWireMessage(m);
    placeById(el, m.id);
    if (m.direction === 'in') {
      state.maxInId = Math.max(state.maxInId, m.id);
    } else {
      if (!state.lastOut || m.id > state.lastOut.id) state.lastOut = m;
      noteIncoming(m, opts && opts.live);
    }
    refreshChips();
    refreshEmpty();
    if (state.pinned) scheduleScroll();
    else if (m.direction === 'out') ui.jump.hidden = false;
  }

  function renderWireMessage(m) {
    const kind = m.author === 'system' ? 'system' : m.direction;
    const el = buildMessageShell({
      kind,
      direction: m.direction,
      authorName: m.direction === 'out' && kind !== 'system' ? m.author_name : null,
      // A button pressed without a label shows its payload rather than an empty bubble.
      text: m.text || m.button_payload,
      attachments: m.attachments,
      contact: m.contact,
      date: m.created_at,
    });
    el.setAttribute('data-id', String(m.id));
    if (m.author) el.setAttribute('data-author', m.author);
    if (m.direction === 'in') setMsgState(el, 'sent');
    return el;
  }

  function buildMessageShell(o) {
    const el = h('div', {
      class: 'msg ' + o.kind,
      'data-testid': 'omniline-message',
      'data-direction': o.direction,
    });
    if (o.authorName) el.append(h('div', { class: 'author', text: o.authorName }));
    const bubble = h('div', { class: 'bubble' });
    if (o.text) appendLinkified(bubble, o.text);
    (o.attachments || []).forEach((a) => bubble.append(renderAttachment(a)));
    if (o.contact) bubble.append(renderContact(o.contact));
    el.append(bubble);
    const meta = h('div', { class: 'meta' }, [
      h('time', { datetime: o.date.toISOString(), text: formatTime(o.date) }),
    ]);
    el.append(meta);
    return el;
  }

  const URL_RE = /\bhttps?:\/\/[^\s<>"']+/gi;

  // Turn http(s) URLs inside plain text into links, everything else stays text.
  function appendLinkified(parent, text) {
    let last = 0;
    let match;
    URL_RE.lastIndex = 0;
    while ((match = URL_RE.exec(text))) {
      const url = match[0].replace(/[.,;:!?)\]}]+$/, ''); // trailing punctuation belongs to the sentence
      const href = safeHttpUrl(url);
      if (match.index > last) parent.append(text.slice(last, match.index));
      if (href) parent.append(h('a', { href, target: '_blank', rel: 'noopener noreferrer nofollow', text: url }));
      else parent.append(url);
      last = match.index + url.length;
      URL_RE.lastIndex = last;
    }
    if (last < text.length) parent.append(text.slice(last));
  }

  const KIND_LABELS = {
    image: 'Image', sticker: 'Sticker', video: 'Video', audio: 'Audio', voice: 'Voice message',
    document: 'File', link: 'Link',
  };

  function formatSize(bytes) {
    if (typeof bytes !== 'number' || !isFinite(bytes) || bytes < 0) return '';
    if (bytes < 1024) return bytes + ' B';
    if (bytes < 1024 * 1024) return Math.round(bytes / 1024) + ' KB';
    return (bytes / 1024 / 1024).toFixed(1) + ' MB';
  }

  function renderAttachment(a) {
    const href = safeHttpUrl(a.url);
    const kind = typeof a.kind === 'string' ? a.kind.toLowerCase() : '';
    const isImage = kind === 'image' || kind === 'photo' || kind === 'sticker' || kind.indexOf('image/') === 0;
    const label = KIND_LABELS[kind] || (isImage ? 'Image' : 'Attachment');
    const title = typeof a.name === 'string' && a.name.trim() ? a.name.trim() : '';
    const name = title || label;
    const linkAttrs = { href, target: '_blank', rel: 'noopener noreferrer nofollow' };
    // Known only by a messenger's id, or not http(s): say what it is, fetch nothing.
    if (!href) return h('span', { class: 'att att-file att-missing', 'data-kind': kind }, [icon('clip'), title ? label + ': ' + title : label]);
    if (kind === 'link') {
      let host = '';
      try { host = new URL(href).host; } catch (e) { host = ''; }
      return h('a', Object.assign({ class: 'att att-link', 'data-kind': kind }, linkAttrs), [
        h('span', { class: 'att-title', text: title || href }),
        title && host ? h('span', { class: 'att-sub', text: host }) : null,
      ]);
    }
    if (kind === 'video' || kind === 'audio' || kind === 'voice') {
      const player = h(kind === 'video' ? 'video' : 'audio', { src: href, controls: true, preload: 'metadata', 'aria-label': name });
      return h('span', { class: 'att att-media', 'data-kind': kind }, [player]);
    }
    if (!isImage) {
      const size = formatSize(a.size);
      return h('a', Object.assign({ class: 'att att-file', 'data-kind': kind, download: name }, linkAttrs), [icon('clip'), size ? name + ' · ' + size : name]);
    }
    const img = h('img', { src: href, alt: name, loading: 'lazy', referrerpolicy: 'no-referrer' });
    // Images change the list height when they load; stay at the bottom if we were.
    img.addEventListener('load', () => { if (state.pinned) scheduleScroll(); });
    linkAttrs['aria-label'] = name;
    return h('a', Object.assign({ class: 'att att-image', 'data-kind': kind }, linkAttrs), [img]);
  }

  // A phone the visitor shared (the contact form): a small card, the number callable.
  function renderContact(c) {
    const phone = c.phone.replace(/[^0-9+]/g, '');
    return h('span', { class: 'att att-contact', 'data-testid': 'omniline-contact' }, [
      icon('person'),
      c.name ? h('span', { class: 'att-title', text: c.name }) : null,
      phone ? h('a', { href: 'tel:' + phone, text: c.phone }) : c.phone,
    ]);
  }

  // Keep server messages ordered by id; pending (unacknowledged) ones stay last.
  function placeById(el, id) {
    const children = ui.list.children;
    let before = null;
    for (let i = children.length - 1; i >= 0; i--) {
      const c = children[i];
      if (c === el) continue;
      if (c.hasAttribute('data-pending')) { before = c; continue; }
      if (!c.hasAttribute('data-id')) continue; // greeting / empty note
      if (Number(c.getAttribute('data-id')) > id) before = c;
      else break;
    }
    // Don't move a node that is already in place: screen readers would re-announce it.
    if (el.parentNode === ui.list && el.nextSibling === before) return;
    ui.list.insertBefore(el, before);
  }

  function setMsgState(el, st, opts) {
    el.setAttribute('data-state', st);
    const meta = el.querySelector('.meta');
    Array.prototype.slice.call(meta.querySelectorAll('.state, .link-btn')).forEach((n) => n.remove());
    const oldReason = el.querySelector('.fail-reason');
    if (oldReason) oldReason.remove();
    if (st === 'sending') {
      meta.append(h('span', { class: 'state', text: 'Sending…' }));
    } else if (st === 'sent') {
      meta.append(h('span', { class: 'state', 'aria-label': 'Sent', title: 'Sent', text: '✓' }));
    } else if (st === 'failed') {
      meta.append(h('span', { class: 'state state-failed', text: 'Not sent' }));
      if (opts.retry) {
        meta.append(h('button', { type: 'button', class: 'link-btn', 'data-testid': 'omniline-retry', 'aria-label': 'Retry sending this message', text: 'Retry', onclick: opts.retry }));
      }
      meta.append(h('button', { type: 'button', class: 'link-btn', 'data-testid': 'omniline-discard', 'aria-label': 'Remove this message', text: 'Remove', onclick: opts.discard }));
      el.append(h('div', { class: 'fail-reason', role: 'alert', text: opts.reason }));
    }
  }

  function refreshEmpty() {
    if (!ui.empty) return;
    ui.empty.hidden = formBlocksChat() || !!ui.list.querySelector('[data-testid="omniline-message"]');
  }

  // Buttons of the newest business message become chips, until the visitor answers.
  function refreshChips() {
    const m = state.lastOut;
    let waiting = false;
    state.pending.forEach((p) => { if (p.ackedId === null && p.status !== 'failed') waiting = true; });
    const show = !!(m && m.buttons.length && m.id > state.maxInId && !waiting);
    const target = show ? m.id : null;
    if (target === state.chipsFor) return;
    state.chipsFor = target;
    ui.chips.textContent = '';
    ui.chips.hidden = !show;
    if (!show) return;
    m.buttons.forEach((row) => {
      ui.chips.append(h('div', { class: 'chip-row' }, row.map((b) => h('button', {
        type: 'button',
        class: 'chip',
        'data-testid': 'omniline-button',
        text: b.text,
        onclick: () => queueMessage({ text: null, payload: String(b.payload), display: b.text }),
      }))));
    });
    if (state.pinned) scheduleScroll();
  }

  // Scroll after layout, at most once per frame (history loads add many nodes).
  function scheduleScroll() {
    if (state.scrollQueued) return;
    state.scrollQueued = true;
    requestAnimationFrame(() => {
      state.scrollQueued = false;
      scrollToBottom();
    });
  }

  function scrollToBottom() {
    ui.list.scrollTop = ui.list.scrollHeight;
    state.pinned = true;
    ui.jump.hidden = true;
  }

  // ---------------------------------------------------------------------------
  // Sending
  // ---------------------------------------------------------------------------

  function queueMessage(msg) {
    if (formBlocksChat()) {
      showFormError('Please fill in the form first.');
      return false;
    }
    const p = {
      cid: uuid(),
      text: msg.text,
      payload: msg.payload,
      display: msg.display,
      status: 'queued',
      attempts: 0,
      posted: false,
      ackedId: null,
      createdAt: new Date(),
      el: null,
    };
    p.el = buildMessageShell({ kind: 'in', direction: 'in', text: p.display, date: p.createdAt });
    p.el.setAttribute('data-pending', '1');
    setMsgState(p.el, 'sending');
    state.pending.set(p.cid, p);
    ui.list.append(p.el);
    refreshEmpty();
    refreshChips();
    scheduleScroll(); // one's own message always scrolls into view
    state.outbox.push(p.cid);
    pump();
    return true;
  }

  // Sends the outbox one message at a time so the server stores them in the
  // order the visitor wrote them.
  async function pump() {
    if (state.sending || state.retryTimer) return;
    const cid = state.outbox[0];
    if (!cid) return;
    const p = state.pending.get(cid);
    if (!p || p.status === 'failed') {
      state.outbox.shift();
      pump();
      return;
    }
    state.sending = cid;
    const outcome = await deliver(p);
    state.sending = null;
    if (outcome.retryIn !== undefined) {
      state.retryTimer = setTimeout(() => {
        state.retryTimer = null;
        pump();
      }, outcome.retryIn);
      return;
    }
    state.outbox.shift();
    pump();
  }

  // One POST attempt. Returns {} when finished (sent or failed) or {retryIn: ms}.
  async function deliver(p) {
    p.status = 'sending';
    const body = { client_message_id: p.cid };
    // A pressed button sends its label too, so the history reads as the visitor saw it.
    if (p.text || p.display) body.text = p.text || p.display;
    if (p.payload !== null) body.button_payload = p.payload;
    let res;
    try {
      await ensureSession();
      p.posted = true;
      res = await api('POST', 'api/messages', body);
    } catch (err) {
      return afterFailure(p, err);
    }
    if (res.ok) {
      const id = Number(res.data && res.data.message_id);
      if (Number.isSafeInteger(id)) markSent(p, id, null);
      state.pending.delete(p.cid);
      refreshChips();
      return {};
    }
    return afterFailure(p, errorFromResponse(res));
  }

  function afterFailure(p, err) {
    if (p.ackedId !== null) { // the socket already confirmed it; nothing left to do
      state.pending.delete(p.cid);
      return {};
    }
    if (err.kind === 'http') { // 4xx: retrying the same request cannot help
      failMessage(p, err.message, false);
      return {};
    }
    p.attempts += 1;
    if (err.kind === 'auth' && p.attempts === 1) return { retryIn: 0 }; // new visitor, try again now
    if (p.attempts > SEND_RETRY_DELAYS.length) {
      // The connection is down; everything queued behind would fail the same way.
      failMessage(p, 'Check your connection and try again.', true);
      state.outbox.slice(1).forEach((cid) => {
        const q = state.pending.get(cid);
        if (q) failMessage(q, 'Check your connection and try again.', true);
      });
      return {};
    }
    return { retryIn: jitter(SEND_RETRY_DELAYS[p.attempts - 1]) };
  }

  function failMessage(p, reason, retryable) {
    p.status = 'failed';
    setMsgState(p.el, 'failed', {
      reason,
      retry: retryable ? () => retryMessage(p) : null,
      discard: () => discardMessage(p),
    });
    refreshChips();
    if (state.pinned) scheduleScroll();
  }

  function retryMessage(p) {
    if (p.status !== 'failed') return;
    p.status = 'queued';
    p.attempts = 0;
    setMsgState(p.el, 'sending');
    // Keep pending messages in the order they will be sent.
    ui.list.append(p.el);
    state.outbox.push(p.cid);
    refreshChips();
    pump();
  }

  function discardMessage(p) {
    state.pending.delete(p.cid);
    state.outbox = state.outbox.filter((cid) => cid !== p.cid);
    p.el.remove();
    refreshEmpty();
    refreshChips();
    focusComposer();
  }

  // The server stored the message as `id` (via POST response, socket ack or echo).
  function markSent(p, id, date) {
    if (p.ackedId !== null) {
      // Already matched to a socket echo. A different id means that echo was an
      // identical message from another tab, so ours still has to be shown.
      if (p.ackedId !== id && !state.seen.has(id)) {
        addMessage({ id, direction: 'in', author: 'client', author_name: null, text: p.display, buttons: [], attachments: [], created_at: p.createdAt }, { live: false });
      }
      return;
    }
    p.ackedId = id;
    p.status = 'sent';
    const el = p.el;
    if (state.seen.has(id)) {
      el.remove(); // already rendered from the stream
    } else {
      state.seen.add(id);
      state.maxInId = Math.max(state.maxInId, id);
      el.removeAttribute('data-pending');
      el.setAttribute('data-id', String(id));
      el.setAttribute('data-author', 'client');
      if (date) {
        const t = el.querySelector('time');
        t.setAttribute('datetime', date.toISOString());
        t.textContent = formatTime(date);
      }
      setMsgState(el, 'sent');
      placeById(el, id);
    }
    refreshChips();
    refreshEmpty();
    if (state.pinned) scheduleScroll();
  }

  // ---------------------------------------------------------------------------
  // Composer
  // ---------------------------------------------------------------------------

  function submitComposer() {
    const text = ui.input.value.trim();
    if (!text) return;
    const len = textLength(text);
    if (len > MAX_TEXT) {
      showComposerError('Your message is too long (' + len + ' of ' + MAX_TEXT + ' characters).');
      return;
    }
    if (queueMessage({ text, payload: null, display: text })) {
      ui.input.value = '';
      onComposerInput();
    }
    ui.input.focus();
  }

  function onComposerInput() {
    const el = ui.input;
    el.style.height = 'auto';
    el.style.height = Math.min(el.scrollHeight + 2, 132) + 'px';
    const len = textLength(el.value);
    ui.counter.hidden = len < COUNTER_FROM;
    ui.counter.textContent = len + '/' + MAX_TEXT;
    ui.counter.classList.toggle('over', len > MAX_TEXT);
    if (len <= MAX_TEXT) showComposerError('');
    refreshComposer();
  }

  function refreshComposer() {
    const blocked = formBlocksChat();
    ui.input.disabled = blocked;
    ui.input.placeholder = blocked ? 'Please introduce yourself first' : 'Type your message…';
    ui.send.disabled = blocked || !ui.input.value.trim();
  }

  function showComposerError(message) {
    ui.error.textContent = message;
    ui.error.hidden = !message;
  }

  function focusComposer() {
    if (!state.open) return;
    if (formBlocksChat() && ui.form && !ui.form.hidden) ui.formFields.name.input.focus();
    else ui.input.focus();
  }

  // ---------------------------------------------------------------------------
  // Pre-chat form
  // ---------------------------------------------------------------------------

  function formBlocksChat() {
    return config.form === 'required' && store.get(keys.form) !== 'done';
  }

  function refreshForm() {
    if (!state.mounted) return;
    if (ui.form) {
      const status = store.get(keys.form);
      ui.form.hidden = status === 'done' || (config.form === 'optional' && status === 'skipped');
    }
    refreshComposer();
    refreshEmpty();
  }

  function buildForm() {
    const required = config.form === 'required';
    const fields = {};
    const field = (name, label, type, autocomplete, cls) => {
      const errorId = 'omni-err-' + name;
      const input = h('input', {
        type, name, autocomplete, placeholder: label + (required && name === 'name' ? ' *' : ''),
        'aria-label': label, 'aria-describedby': errorId, 'data-testid': 'omniline-form-' + name,
        maxlength: name === 'email' ? 254 : 100,
        oninput: () => setFieldError(name, ''),
      });
      const error = h('div', { class: 'field-error', id: errorId, 'aria-live': 'polite', hidden: true });
      fields[name] = { input, error };
      return h('div', { class: 'field ' + (cls || '') }, [input, error]);
    };
    const submit = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'omniline-form-submit', text: required ? 'Start chat' : 'Save' });
    const skip = required ? null : h('button', {
      type: 'button', class: 'btn btn-ghost', 'data-testid': 'omniline-form-skip', text: 'Skip',
      'aria-label': 'Skip contact form', onclick: skipForm,
    });
    const formError = h('div', { class: 'form-error', role: 'alert', hidden: true });
    const form = h('form', { class: 'form', 'data-testid': 'omniline-form', novalidate: true, 'aria-label': 'Contact details', onsubmit: submitForm }, [
      h('p', { class: 'form-title', text: required ? 'Before we start, please introduce yourself' : 'Leave your contact so we can reply later' }),
      required ? h('p', { class: 'form-hint', text: 'Your name and a phone number or email.' }) : null,
      h('div', { class: 'form-grid' }, [
        field('name', 'Name', 'text', 'name', 'field-name'),
        field('phone', 'Phone', 'tel', 'tel'),
        field('email', 'Email', 'email', 'email'),
      ]),
      formError,
      h('div', { class: 'form-actions' }, [skip, submit]),
    ]);
    ui.form = form;
    ui.formFields = fields;
    ui.formSubmit = submit;
    ui.formError = formError;
    return form;
  }

  function setFieldError(name, message) {
    const f = ui.formFields && ui.formFields[name];
    if (!f) return;
    f.error.textContent = message;
    f.error.hidden = !message;
    if (message) f.input.setAttribute('aria-invalid', 'true');
    else f.input.removeAttribute('aria-invalid');
  }

  function showFormError(message) {
    if (!ui.formError) return;
    ui.formError.textContent = message;
    ui.formError.hidden = !message;
  }

  // Returns {field: message} for invalid input.
  function validateProfile(v, required) {
    const errors = {};
    if (v.name && v.name.length > 100) errors.name = 'Name is too long.';
    if (v.phone && !isValidPhone(v.phone)) errors.phone = 'Enter a valid phone number (6–20 digits).';
    if (v.email && !isValidEmail(v.email)) errors.email = 'Enter a valid email address.';
    if (required) {
      if (!v.name) errors.name = 'Please enter your name.';
      if (!v.phone && !v.email) errors.phone = errors.phone || 'Enter a phone number or an email.';
    } else if (!v.name && !v.phone && !v.email) {
      errors.name = 'Fill in at least one field, or press Skip.';
    }
    return errors;
  }

  async function submitForm(ev) {
    ev.preventDefault();
    if (state.formBusy) return;
    const values = {};
    ['name', 'phone', 'email'].forEach((n) => {
      values[n] = ui.formFields[n].input.value.trim();
      setFieldError(n, '');
    });
    showFormError('');
    const errors = validateProfile(values, config.form === 'required');
    const invalid = Object.keys(errors);
    if (invalid.length) {
      invalid.forEach((n) => setFieldError(n, errors[n]));
      ui.formFields[invalid[0]].input.focus();
      return;
    }
    const profile = {};
    Object.keys(values).forEach((n) => { if (values[n]) profile[n] = values[n]; });
    state.formBusy = true;
    ui.formSubmit.disabled = true;
    try {
      await saveProfile(profile, true);
      store.set(keys.form, 'done');
      refreshForm();
      focusComposer();
    } catch (err) {
      if (err.field && ui.formFields[err.field]) {
        setFieldError(err.field, err.message);
        ui.formFields[err.field].input.focus();
      } else {
        showFormError(err.kind === 'network' ? 'Could not reach the server. Please try again.' : err.message);
      }
    } finally {
      state.formBusy = false;
      ui.formSubmit.disabled = false;
    }
  }

  function skipForm() {
    store.set(keys.form, 'skipped');
    refreshForm();
    focusComposer();
  }

  // Without a visitor yet, create it with the details in one call; otherwise
  // update the profile. Rejects with err.field set for server validation errors.
  async function saveProfile(profile, explicit) {
    state.profile = Object.assign({}, state.profile, profile);
    if (!state.session && !state.creating && !loadStoredSession()) {
      await ensureSession(explicit ? profile : undefined);
      return;
    }
    await ensureSession();
    let res;
    try {
      res = await api('POST', 'api/profile', profile);
    } catch (err) {
      if (err.kind !== 'auth') throw err;
      await ensureSession(explicit ? profile : undefined); // token was bad: new visitor carries the details
      return;
    }
    if (!res.ok) throw errorFromResponse(res);
  }

  // ---------------------------------------------------------------------------
  // Open / close, unread badge, title flash
  // ---------------------------------------------------------------------------

  function setOpen(open, opts) {
    const userAction = !opts || opts.userAction !== false;
    state.open = open;
    ui.panel.hidden = !open;
    ui.root.classList.toggle('is-open', open);
    ui.launcher.setAttribute('aria-expanded', String(open));
    store.set(keys.open, open ? '1' : '0');
    if (open) {
      markRead();
      scrollToBottom();
      // Don't steal focus (and pop up a phone keyboard) when restoring state on page load.
      if (userAction) focusComposer();
      reconnectNow();
    } else if (userAction && ui.shadow.activeElement && ui.panel.contains(ui.shadow.activeElement)) {
      ui.launcher.focus();
    }
    updateUnread();
  }

  function isReading() {
    return state.open && document.visibilityState !== 'hidden';
  }

  function noteIncoming(m, live) {
    if (m.id <= state.readId) return;
    if (isReading()) {
      markRead();
      return;
    }
    updateUnread();
    if (live) flashTitle();
  }

  function markRead() {
    if (state.lastOut && state.lastOut.id > state.readId) {
      state.readId = state.lastOut.id;
      store.set(keys.read, String(state.readId));
    }
    stopFlash();
    updateUnread();
  }

  // Count rather than increment: the read marker may also move in another tab.
  function updateUnread() {
    let count = 0;
    if (!state.open) {
      ui.list.querySelectorAll('[data-direction="out"][data-id]').forEach((el) => {
        if (Number(el.getAttribute('data-id')) > state.readId) count += 1;
      });
    }
    ui.badge.hidden = count === 0;
    ui.badge.textContent = count > 99 ? '99+' : String(count);
    let label = state.open ? 'Close chat' : 'Open chat';
    if (count) label += ' (' + count + ' unread)';
    ui.launcher.setAttribute('aria-label', label);
    ui.launcher.title = label;
  }

  const flash = { timer: null, original: '' };

  function flashTitle() {
    if (flash.timer) return;
    flash.original = document.title;
    let ticks = 0;
    flash.timer = setInterval(() => {
      ticks += 1;
      document.title = ticks % 2 ? '💬 New message' : flash.original;
      if (ticks >= 10 || isReading()) stopFlash();
    }, 1000);
  }

  function stopFlash() {
    if (!flash.timer) return;
    clearInterval(flash.timer);
    flash.timer = null;
    document.title = flash.original;
  }

  let connectingTimer = null;

  function setConn(conn) {
    state.conn = conn;
    if (!ui.status) return;
    clearTimeout(connectingTimer);
    if (conn === 'connecting') {
      // Most connects finish within a few hundred ms; don't flash a banner for those.
      connectingTimer = setTimeout(() => showStatus('Connecting…'), 700);
    } else {
      showStatus(conn === 'offline' ? 'Offline, retrying…' : '');
    }
  }

  function showStatus(text) {
    ui.status.textContent = text;
    ui.status.hidden = !text;
  }

  // ---------------------------------------------------------------------------
  // DOM
  // ---------------------------------------------------------------------------

  function mount() {
    const host = document.createElement('div');
    host.id = 'omniline-chat';
    host.setAttribute('data-omniline-version', VERSION);
    // The host only anchors the shadow tree; its children are position:fixed.
    [['position', 'fixed'], ['z-index', '2147483000'], ['right', '0'], ['bottom', '0'],
      ['width', '0'], ['height', '0'], ['overflow', 'visible'], ['display', 'block'],
      ['margin', '0'], ['padding', '0'], ['border', '0'], ['transform', 'none']]
      .forEach((pair) => host.style.setProperty(pair[0], pair[1], 'important'));
    const shadow = host.attachShadow({ mode: 'open' }); // open: browser tests pierce it
    attachStyles(shadow);

    const root = h('div', { class: 'root' });
    root.style.setProperty('--omni-color', config.color);
    root.style.setProperty('--omni-on-color', textColorOn(config.color));

    const panelId = 'omniline-panel';
    const badge = h('span', { class: 'badge', 'aria-hidden': 'true', 'data-testid': 'omniline-unread', hidden: true });
    const launcher = h('button', {
      type: 'button', class: 'launcher', 'data-testid': 'omniline-launcher',
      'aria-label': 'Open chat', 'aria-controls': panelId, 'aria-expanded': 'false',
      onclick: () => setOpen(!state.open),
    }, [icon('chat', 'icon-chat'), icon('close', 'icon-close'), badge]);

    const status = h('div', { class: 'status', 'data-testid': 'omniline-status', role: 'status', hidden: true });
    const list = h('div', {
      class: 'messages', 'data-testid': 'omniline-messages', role: 'log',
      'aria-live': 'polite', 'aria-label': 'Messages', tabindex: '0',
    });
    if (config.greeting) {
      list.append(h('div', { class: 'msg out greeting', 'data-testid': 'omniline-greeting' }, [
        h('div', { class: 'bubble', text: config.greeting }),
      ]));
    }
    const empty = config.greeting ? null : h('p', { class: 'empty', 'data-testid': 'omniline-empty', text: 'Send us a message and we’ll reply right here.' });
    if (empty) list.append(empty);
    const jump = h('button', { type: 'button', class: 'jump', hidden: true, text: 'New messages ↓', onclick: scrollToBottom });
    const chips = h('div', { class: 'chips', 'data-testid': 'omniline-buttons', role: 'group', 'aria-label': 'Suggested replies', hidden: true });
    const input = h('textarea', {
      rows: '1', 'data-testid': 'omniline-input', 'aria-label': 'Message', placeholder: 'Type your message…',
      oninput: onComposerInput, onkeydown: onComposerKey,
    });
    const send = h('button', {
      type: 'button', class: 'send', 'data-testid': 'omniline-send', 'aria-label': 'Send message',
      disabled: true, onclick: submitComposer,
    }, [icon('send')]);
    const error = h('div', { class: 'error', role: 'alert', 'data-testid': 'omniline-error', hidden: true });
    const counter = h('div', { class: 'counter', 'aria-live': 'polite', hidden: true });

    const panel = h('div', {
      class: 'panel', id: panelId, 'data-testid': 'omniline-panel', role: 'dialog',
      'aria-label': config.title, hidden: true, onkeydown: onPanelKey,
    }, [
      h('div', { class: 'header' }, [
        h('h2', { class: 'title', text: config.title }),
        h('button', { type: 'button', class: 'icon-btn', 'data-testid': 'omniline-close', 'aria-label': 'Close chat', onclick: () => setOpen(false) }, [icon('close')]),
      ]),
      status,
      config.form === 'off' ? null : buildForm(),
      h('div', { class: 'body' }, [list, jump]),
      chips,
      h('div', { class: 'composer' }, [input, send]),
      h('div', { class: 'notes' }, [error, counter]),
    ]);

    root.append(panel, launcher);
    shadow.append(root);
    Object.assign(ui, { host, shadow, root, launcher, badge, panel, status, list, empty, jump, chips, input, send, error, counter });

    list.addEventListener('scroll', () => {
      state.pinned = list.scrollHeight - list.scrollTop - list.clientHeight < PIN_THRESHOLD_PX;
      if (state.pinned) jump.hidden = true;
    }, { passive: true });
    if (typeof ResizeObserver === 'function') {
      // Phone keyboards and window resizes shrink the list; keep the newest message visible.
      new ResizeObserver(() => { if (state.pinned && state.open) scrollToBottom(); }).observe(list);
    }

    document.body.appendChild(host);
    state.mounted = true;
  }

  // Constructable stylesheets when available (not affected by inline-style CSP
  // on most sites), otherwise a <style> element.
  function attachStyles(shadow) {
    try {
      if ('adoptedStyleSheets' in Document.prototype && typeof CSSStyleSheet === 'function' && CSSStyleSheet.prototype.replaceSync) {
        const sheet = new CSSStyleSheet();
        sheet.replaceSync(CSS_TEXT);
        shadow.adoptedStyleSheets = [sheet];
        return;
      }
    } catch (e) { /* fall back */ }
    const style = document.createElement('style');
    style.textContent = CSS_TEXT;
    shadow.appendChild(style);
  }

  function onComposerKey(ev) {
    // isComposing: Enter confirms an IME candidate (Chinese, Japanese…), it must not send.
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
      ev.preventDefault();
      submitComposer();
    }
  }

  function onPanelKey(ev) {
    if (ev.key === 'Escape') {
      ev.stopPropagation();
      setOpen(false);
      ui.launcher.focus();
    }
  }

  // ---------------------------------------------------------------------------
  // Page lifecycle
  // ---------------------------------------------------------------------------

  function listenToPage() {
    window.addEventListener('online', () => {
      reconnectNow();
      if (state.retryTimer) { // retry the waiting message right away
        clearTimeout(state.retryTimer);
        state.retryTimer = null;
        pump();
      }
    });
    window.addEventListener('offline', () => { if (state.session) setConn('offline'); });
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') {
        if (state.open) markRead();
        reconnectNow();
      }
    });
    // An open WebSocket keeps the page out of the back/forward cache.
    window.addEventListener('pagehide', (ev) => { if (ev.persisted) closeSocket(); });
    window.addEventListener('pageshow', (ev) => { if (ev.persisted) reconnectNow(); });
    window.addEventListener('storage', onStorage);
  }

  // Keep several tabs of the same site in step.
  function onStorage(ev) {
    if (ev.key === keys.session) {
      const stored = loadStoredSession();
      if (stored && (!state.session || stored.token !== state.session.token)) {
        resetConversation();
        state.readId = Number(store.get(keys.read)) || 0;
        adoptSession(stored);
      }
    } else if (ev.key === keys.read) {
      state.readId = Math.max(state.readId, Number(ev.newValue) || 0);
      updateUnread();
    } else if (ev.key === keys.form) {
      refreshForm();
    }
  }

  // ---------------------------------------------------------------------------
  // Public API and boot
  // ---------------------------------------------------------------------------

  let pendingOpen = null; // open()/close() called before the DOM was ready

  function whenMounted(fn) {
    if (state.mounted) fn();
    else pendingOpen = fn;
  }

  function publicSetProfile(p) {
    const profile = {};
    ['name', 'phone', 'email'].forEach((k) => {
      if (p && typeof p[k] === 'string' && p[k].trim()) profile[k] = p[k].trim();
    });
    state.profile = Object.assign({}, state.profile, profile);
    // The site already knows who this is: don't ask again.
    const complete = config.form === 'required'
      ? !!(state.profile.name && (state.profile.phone || state.profile.email))
      : !!(state.profile.phone || state.profile.email);
    if (complete) {
      store.set(keys.form, 'done');
      refreshForm();
    }
    // No visitor yet: the details go along when the visitor first writes.
    if (!state.session && !loadStoredSession()) return Promise.resolve({ ok: true, queued: true });
    return saveProfile(profile, false).then(
      () => ({ ok: true }),
      (err) => ({ ok: false, error: err.message, field: err.field || null }));
  }

  window.OmnilineChat = Object.freeze({
    version: VERSION,
    open() { whenMounted(() => setOpen(true)); },
    close() { whenMounted(() => setOpen(false)); },
    toggle() { whenMounted(() => setOpen(!state.open)); },
    setProfile: publicSetProfile,
  });

  function boot() {
    mount();
    state.readId = Number(store.get(keys.read)) || 0;
    refreshForm();
    updateUnread();
    listenToPage();
    const stored = loadStoredSession();
    if (stored) adoptSession(stored); // history + live updates (unread badge) for returning visitors
    if (store.get(keys.open) === '1') setOpen(true, { userAction: false });
    if (pendingOpen) {
      pendingOpen();
      pendingOpen = null;
    }
    window.dispatchEvent(new CustomEvent('omniline:ready'));
  }

  // An async script in <head> can run before <body> exists.
  if (document.body) boot();
  else document.addEventListener('DOMContentLoaded', boot, { once: true });
})();
