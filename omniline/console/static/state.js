// What the console knows, in one place, and who is told when it changes.
//
// Dialogs arrive from the snapshot at login and then from push frames (each carries the dialog's
// state now), so the newest copy always wins. Messages are kept per dialog by id, which makes
// the push replay after a reconnect and overlapping history pages harmless.

import { storage } from './dom.js';

const SEEN_LIMIT = 500; // dialogs remembered in localStorage for unread counts

export const state = {
  account: null, // Account from /me or the login
  operators: new Map(), // id -> Operator
  lines: new Map(), // id -> Line
  dialogs: new Map(), // id -> Dialog
  messages: new Map(), // dialog id -> Map(message id -> Message)
  histories: new Map(), // dialog id -> Promise of the loaded history
  clients: new Map(), // client id -> client card data
  selectedId: null, // the dialog shown in the chat
  view: 'dialogs', // 'dialogs' | 'stats'
  pane: 'list', // on a phone: 'list' | 'chat' | 'card'
  push: 'connecting', // 'connecting' | 'live' | 'offline'
  seen: {}, // dialog id -> last message id the operator has seen
};

// --- change notification ----------------------------------------------------------------------

const listeners = new Map();

/** Call `fn(detail)` whenever `topic` changes: 'dialogs', 'message', 'operators', 'selection',
 * 'view', 'push', 'client', 'seen'. */
export function on(topic, fn) {
  if (!listeners.has(topic)) listeners.set(topic, new Set());
  listeners.get(topic).add(fn);
}

export function emit(topic, detail) {
  for (const fn of listeners.get(topic) || []) {
    try {
      fn(detail);
    } catch (error) {
      console.error(`[omniline] ${topic} listener failed`, error);
    }
  }
}

// --- who am I -------------------------------------------------------------------------------

export const myOperatorId = () => (state.account && state.account.operator_id) || null;
export const isSupervisor = () =>
  !!state.account && ['supervisor', 'admin'].includes(state.account.role);
export const myOperator = () => state.operators.get(myOperatorId()) || null;

// --- dialogs --------------------------------------------------------------------------------

/** Store a dialog; answers the previous copy (or undefined). */
export function putDialog(dialog) {
  const before = state.dialogs.get(dialog.id);
  state.dialogs.set(dialog.id, dialog);
  return before;
}

export function isOfferedToMe(dialog) {
  const me = myOperatorId();
  if (!me || dialog.status !== 'offered') return false;
  return (dialog.offered_to || []).includes(me) || dialog.operator_id === me;
}

/** A dialog I work in: mine, or one I was invited into. */
export function isMine(dialog) {
  const me = myOperatorId();
  if (!me || dialog.status !== 'active') return false;
  return dialog.operator_id === me || (dialog.members || []).includes(me);
}

const newestFirst = (a, b) => b.id - a.id;

/** Offers to me first, then dialogs waiting in the queue; supervisors see every offer too. */
export function queueDialogs() {
  const all = [...state.dialogs.values()];
  const offers = all.filter(isOfferedToMe).sort(newestFirst);
  const waiting = all
    .filter(
      (d) =>
        d.status === 'queued' || (d.status === 'offered' && !isOfferedToMe(d) && isSupervisor()),
    )
    .sort(newestFirst);
  return [...offers, ...waiting];
}

/** My open dialogs; a supervisor who takes no dialogs watches every active one. */
export function openDialogs() {
  const all = [...state.dialogs.values()];
  const watched = myOperatorId() ? all.filter(isMine) : all.filter((d) => d.status === 'active');
  // Pinned first, then newest activity first.
  return watched.sort(
    (a, b) =>
      Number(b.pinned) - Number(a.pinned) ||
      (b.last_message_id || 0) - (a.last_message_id || 0) ||
      newestFirst(a, b),
  );
}

export const offersToMe = () => [...state.dialogs.values()].filter(isOfferedToMe).length;

// --- messages -------------------------------------------------------------------------------

/** Store messages; answers those that were new (messages are unique by id). */
export function putMessages(dialogId, items) {
  if (!state.messages.has(dialogId)) state.messages.set(dialogId, new Map());
  const known = state.messages.get(dialogId);
  const added = [];
  for (const message of items) {
    if (known.has(message.id)) continue;
    known.set(message.id, message);
    added.push(message);
  }
  return added;
}

export function messagesOf(dialogId) {
  const known = state.messages.get(dialogId);
  return known ? [...known.values()].sort((a, b) => a.id - b.id) : [];
}

export function lastMessageId(dialogId) {
  let last = 0;
  for (const id of (state.messages.get(dialogId) || new Map()).keys()) last = Math.max(last, id);
  return last;
}

// --- unread counts --------------------------------------------------------------------------

const seenKey = () => `omniline:console:${state.account.id}:seen`;

export function loadSeen() {
  state.seen = storage.getJSON(seenKey(), {}) || {};
}

/** Messages in the dialog newer than the last one I saw, not counting my own. */
export function unreadCount(dialogId) {
  const seen = state.seen[dialogId] || 0;
  const mine = `operator:${myOperatorId() || state.account.id}`;
  return messagesOf(dialogId).filter((m) => m.id > seen && m.author !== mine).length;
}

/** Remember that everything loaded in the dialog has been seen. */
export function markSeen(dialogId) {
  const last = lastMessageId(dialogId);
  if (!last || (state.seen[dialogId] || 0) >= last) return;
  state.seen[dialogId] = last;
  const ids = Object.keys(state.seen);
  if (ids.length > SEEN_LIMIT) {
    // Forget the oldest dialogs (ids only grow).
    ids
      .sort((a, b) => a - b)
      .slice(0, ids.length - SEEN_LIMIT)
      .forEach((id) => delete state.seen[id]);
  }
  storage.setJSON(seenKey(), state.seen);
  emit('seen', dialogId);
}

/** Forget everything from the previous session (logout). */
export function reset() {
  Object.assign(state, {
    account: null,
    selectedId: null,
    view: 'dialogs',
    pane: 'list',
    push: 'connecting',
    seen: {},
  });
  for (const map of [
    state.operators,
    state.lines,
    state.dialogs,
    state.messages,
    state.histories,
    state.clients,
  ]) {
    map.clear();
  }
}
