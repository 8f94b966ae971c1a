// Shared UI actions: choosing what is on screen, and telling the operator how an action went.

import { h } from './dom.js';
import { emit, markSeen, state } from './state.js';

const TOAST_MS = 5000;

/** Show a dialog in the chat (on a phone this also switches to the chat pane). */
export function select(dialogId) {
  state.selectedId = dialogId;
  state.view = 'dialogs';
  state.pane = dialogId === null ? 'list' : 'chat';
  if (dialogId !== null) markSeen(dialogId);
  emit('selection', dialogId);
  emit('view');
}

/** 'list' | 'chat' | 'card': which pane a phone shows. */
export function setPane(pane) {
  state.pane = pane;
  emit('view');
}

/** 'dialogs' | 'stats'. */
export function setView(view) {
  state.view = view;
  emit('view');
}

/** "wrong login or password" -> "Wrong login or password." (server messages are lowercase). */
export function sentence(text) {
  const trimmed = String(text).trim();
  if (!trimmed) return trimmed;
  const capital = trimmed[0].toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

/** A short message at the bottom of the screen; errors stay until dismissed or replaced. */
export function toast(text, { error = false } = {}) {
  const region = document.querySelector('[data-testid="toast"]');
  if (!region) return;
  const close = h('button', { type: 'button', class: 'link', 'aria-label': 'Dismiss', text: '×' });
  const note = h(
    'div',
    { class: `toast${error ? ' error' : ''}`, role: error ? 'alert' : 'status' },
    [h('span', { text: sentence(text) }), close],
  );
  close.addEventListener('click', () => note.remove());
  region.replaceChildren(note);
  if (!error) setTimeout(() => note.remove(), TOAST_MS);
}

/** Run an API call from a button: disable it meanwhile and show a failure as a toast.
 * Answers the call's result, or undefined when it failed. */
export async function busy(button, call) {
  if (button) button.disabled = true;
  try {
    return await call();
  } catch (error) {
    toast(error.message || String(error), { error: true });
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}
