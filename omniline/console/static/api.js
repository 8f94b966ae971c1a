// The desk REST API (/api/v1) as plain async functions.
//
// The session lives in an HttpOnly cookie; every state-changing request carries the CSRF token
// the server gave at login (or in /me) in the X-CSRF-Token header.

const BASE = '/api/v1';
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const MAX_PAGES = 20; // safety net when following `next` cursors

/** A non-2xx answer, with the contract's stable error code. */
export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    const error = (body && body.error) || {};
    super(error.message || `The server answered ${status}.`);
    this.name = 'ApiError';
    this.status = status;
    this.code = error.code || 'http_' + status;
    this.fields = error.fields || [];
    this.retryAfter = retryAfter;
  }
}

let csrfToken = null;
// Called when a request other than login answers 401: the session expired or was revoked.
let onUnauthenticated = () => {};

export function setCsrfToken(token) {
  csrfToken = token;
}

export function setUnauthenticatedHandler(handler) {
  onUnauthenticated = handler;
}

async function request(method, path, { json, form, allow401 = false } = {}) {
  const headers = { Accept: 'application/json' };
  let body;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form; // the browser sets the multipart boundary itself
  }
  if (UNSAFE.has(method) && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  let response;
  try {
    response = await fetch(BASE + path, { method, headers, body, credentials: 'same-origin' });
  } catch {
    throw new ApiError(0, { error: { code: 'network', message: 'The server cannot be reached.' } });
  }
  const data = await readBody(response);
  if (!response.ok) {
    const retryAfter = Number(response.headers.get('Retry-After')) || null;
    const error = new ApiError(response.status, data, retryAfter);
    if (response.status === 401 && !allow401) onUnauthenticated(error);
    throw error;
  }
  return data;
}

async function readBody(response) {
  if (response.status === 204) return null;
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === '') continue;
    for (const item of [].concat(value)) search.append(key, String(item));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** All items of a paged list, following `next` (the cursor parameter is named by `param`). */
async function all(path, params = {}, param = 'cursor') {
  const items = [];
  let next = null;
  for (let page = 0; page < MAX_PAGES; page++) {
    const pageParams = next === null ? params : { ...params, [param]: next };
    const data = await request('GET', path + query(pageParams));
    items.push(...data.items);
    next = data.next ?? null;
    if (next === null || data.items.length === 0) break;
  }
  return items;
}

const id = encodeURIComponent;

// --- session --------------------------------------------------------------------------------

export const login = (name, password) =>
  request('POST', '/session', { json: { login: name, password }, allow401: true });
export const logout = () => request('DELETE', '/session', { allow401: true });
export const me = () => request('GET', '/me', { allow401: true });

// --- lines and operators --------------------------------------------------------------------

export const lines = () => all('/lines');
export const operators = () => all('/operators');
export const shift = (operatorId, action) =>
  request('POST', `/operators/${id(operatorId)}/shift`, { json: { action } });

// --- dialogs --------------------------------------------------------------------------------

export const dialogs = (params) => all('/dialogs', params);
export const dialog = (dialogId) => request('GET', `/dialogs/${id(dialogId)}`);
export const messages = (dialogId, after = 0) =>
  all(`/dialogs/${id(dialogId)}/messages`, { after, limit: 200 }, 'after');

/** An action on a dialog (accept, skip, pin, unpin, close, reopen, lead, transfer, invite,
 * whisper, reply); answers the dialog after the action. */
export const act = (dialogId, action, body = {}) =>
  request('POST', `/dialogs/${id(dialogId)}/${action}`, { json: body });

export function upload(file) {
  const form = new FormData();
  form.append('file', file, file.name);
  return request('POST', '/files', { form });
}

// --- clients and statistics -----------------------------------------------------------------

export const client = (clientId) => request('GET', `/clients/${id(clientId)}`);
export const statistics = (params) => request('GET', '/statistics' + query(params));
