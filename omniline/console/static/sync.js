// Keeping `state` in step with the server: the snapshot at login, histories on demand, and the
// push frames.

import * as api from './api.js';
import { beep } from './notify.js';
import {
  emit,
  isMine,
  isOfferedToMe,
  lastMessageId,
  myOperatorId,
  putDialog,
  putMessages,
  state,
} from './state.js';
import { toast } from './ui.js';

const OPEN = ['queued', 'offered', 'active'];

/** Operators, lines and every open dialog the account sees; then the histories of my dialogs
 * (for their unread counts). */
export async function loadSnapshot() {
  const [operators, lines, dialogs] = await Promise.all([
    api.operators().catch(() => []), // the console still works without the colleagues list
    api.lines().catch(() => []),
    api.dialogs({ status: OPEN, limit: 50 }),
  ]);
  for (const operator of operators) state.operators.set(operator.id, operator);
  for (const line of lines) state.lines.set(line.id, line);
  for (const dialog of dialogs) putDialog(dialog);
  emit('operators');
  emit('dialogs');
  await Promise.all(dialogs.filter(isMine).map((d) => ensureHistory(d.id).catch(() => {})));
}

/** Load a dialog's whole history once; later messages come by push. */
export function ensureHistory(dialogId) {
  if (!state.histories.has(dialogId)) {
    const loading = api.messages(dialogId, 0).then((items) => {
      const added = putMessages(dialogId, items);
      if (added.length) emit('message', { dialogId, added });
    });
    // A failed load may be tried again next time.
    loading.catch(() => state.histories.delete(dialogId));
    state.histories.set(dialogId, loading);
  }
  return state.histories.get(dialogId);
}

/** Fetch what is newer than the last message we have (after sending: works even while the push
 * connection is down; duplicates with push are dropped by id). */
export async function fetchNewMessages(dialogId) {
  await ensureHistory(dialogId);
  const items = await api.messages(dialogId, lastMessageId(dialogId));
  const added = putMessages(dialogId, items);
  if (added.length) emit('message', { dialogId, added });
}

export async function loadClient(clientId, { fresh = false } = {}) {
  if (fresh || !state.clients.has(clientId)) {
    state.clients.set(clientId, await api.client(clientId));
    emit('client', clientId);
  }
  return state.clients.get(clientId);
}

/** Store a dialog the server answered after an action and tell the views. */
export function updateDialog(dialog) {
  const before = putDialog(dialog);
  afterDialogChange(dialog, before, { notify: false });
}

// --- push frames ----------------------------------------------------------------------------

export function applyFrame(frame) {
  switch (frame.type) {
    case 'hello':
      if (frame.account) state.account = { ...state.account, ...frame.account };
      // The server could not go on from our cursor (its database was replaced): start afresh.
      if (frame.reset) {
        loadSnapshot().catch((error) =>
          toast(`Could not reload the dialogs: ${error.message}`, { error: true }),
        );
      }
      break;
    case 'event': {
      const before = putDialog(frame.dialog);
      afterDialogChange(frame.dialog, before, { notify: true, event: frame.event });
      break;
    }
    case 'message': {
      const message = frame.message;
      // A dialog we do not follow (the bot's, say) loads its history when it is opened.
      if (!state.dialogs.has(message.dialog_id) && !state.histories.has(message.dialog_id)) break;
      const added = putMessages(message.dialog_id, [message]);
      const dialog = state.dialogs.get(message.dialog_id);
      if (dialog && (dialog.last_message_id || 0) < message.id) {
        putDialog({ ...dialog, last_message_id: message.id });
      }
      if (added.length) emit('message', { dialogId: message.dialog_id, added });
      break;
    }
    case 'presence':
      state.operators.set(frame.operator.id, frame.operator);
      emit('operators', frame.operator);
      break;
    default:
      break; // a newer server may send more; ignore what we do not know
  }
}

function afterDialogChange(dialog, before, { notify, event = null }) {
  // Beep once per new offer to me, not on every later change of an offered dialog.
  if (notify && isOfferedToMe(dialog) && !(before && isOfferedToMe(before))) beep();
  // A dialog that just became mine: its history gives the unread count.
  if (isMine(dialog) && !(before && isMine(before))) ensureHistory(dialog.id).catch(() => {});
  // The client card lists the client's dialogs; it is stale now.
  const card = state.clients.get(dialog.client_id);
  if (card && before && before.status !== dialog.status) {
    loadClient(dialog.client_id, { fresh: true }).catch(() => {});
  }
  emit('dialogs', { dialog, before, event, mine: myOperatorId() });
}
