// The left pane: dialogs waiting in the queue or offered to me, and my open dialogs.

import * as api from './api.js';
import { channelBadge, clientColor, clientName, formatTime, h, replace } from './dom.js';
import { setTitle } from './notify.js';
import {
  isOfferedToMe,
  offersToMe,
  on,
  openDialogs,
  queueDialogs,
  state,
  unreadCount,
} from './state.js';
import { updateDialog } from './sync.js';
import { busy, select } from './ui.js';

export function mountLists(root) {
  const queue = h('ul', { class: 'items', 'data-testid': 'queue', 'aria-label': 'Queue' });
  const mine = h('ul', { class: 'items', 'data-testid': 'my-dialogs', 'aria-label': 'My dialogs' });
  const queueCount = h('span', { class: 'count', 'data-testid': 'queue-count' });
  const mineCount = h('span', { class: 'count' });
  const mineTitle = h('span', { text: 'My dialogs' });
  replace(
    root,
    h('section', { class: 'list-section', 'aria-labelledby': 'queue-heading' }, [
      h('h2', { id: 'queue-heading' }, ['Queue ', queueCount]),
      queue,
      h('p', { class: 'empty', 'data-testid': 'queue-empty', text: 'Nobody is waiting.' }),
    ]),
    h('section', { class: 'list-section', 'aria-labelledby': 'mine-heading' }, [
      h('h2', { id: 'mine-heading' }, [mineTitle, ' ', mineCount]),
      mine,
      h('p', { class: 'empty', 'data-testid': 'my-dialogs-empty', text: 'No open dialogs.' }),
    ]),
  );

  function render() {
    const waiting = queueDialogs();
    const open = openDialogs();
    const focused = focusedControl(root);
    replace(queue, ...waiting.map(queueItem));
    replace(mine, ...open.map(dialogItem));
    restoreFocus(root, focused);
    // Someone who takes no dialogs (a supervisor) watches all active ones instead.
    mineTitle.textContent =
      state.account && !state.account.operator_id ? 'Active dialogs' : 'My dialogs';
    queueCount.textContent = waiting.length ? `(${waiting.length})` : '';
    mineCount.textContent = open.length ? `(${open.length})` : '';
    setTitle(offersToMe());
  }

  for (const topic of ['dialogs', 'message', 'selection', 'seen']) on(topic, render);
  render();
}

// The lists are rebuilt on every change; keep the keyboard focus on the same control.
function focusedControl(root) {
  const active = document.activeElement;
  const item = active && root.contains(active) ? active.closest('[data-dialog-id]') : null;
  if (!item) return null;
  return { id: item.dataset.dialogId, control: active.dataset.testid || 'item-main' };
}

function restoreFocus(root, focused) {
  if (!focused) return;
  const item = root.querySelector(`[data-dialog-id="${CSS.escape(focused.id)}"]`);
  if (!item) return;
  const control =
    item.querySelector(`[data-testid="${CSS.escape(focused.control)}"]`) ||
    item.querySelector('.item-main');
  control.focus();
}

/** Name, channel and a status line; a click shows the dialog in the chat. */
function summary(dialog, status) {
  return h(
    'button',
    {
      type: 'button',
      class: 'item-main',
      'aria-label': `${clientName(dialog)}, ${status}`,
      onclick: () => select(dialog.id),
    },
    [
      channelBadge(dialog.client && dialog.client.channel),
      h('span', { class: 'item-text' }, [
        h('span', {
          class: 'name',
          style: { color: clientColor(dialog.client_id) },
          text: clientName(dialog),
        }),
        h('span', { class: 'sub', text: status }),
      ]),
    ],
  );
}

function itemAttrs(dialog, testid, extra = '') {
  return {
    class: `item${dialog.id === state.selectedId ? ' selected' : ''}${extra}`,
    'data-testid': testid,
    'data-dialog-id': dialog.id,
    'data-status': dialog.status,
    'aria-current': dialog.id === state.selectedId ? 'true' : null,
  };
}

function queueItem(dialog) {
  const offered = isOfferedToMe(dialog);
  const status = offered
    ? `Offered to you · ${formatTime(dialog.opened_at)}`
    : dialog.status === 'offered'
      ? `Offered to ${(dialog.offered_to || [dialog.operator_id]).map(operatorName).join(', ')}`
      : `Waiting since ${formatTime(dialog.opened_at)}`;
  const actions = [];
  // Anyone who takes dialogs may accept an offer to them or a dialog waiting in the queue.
  if (state.account.operator_id && (offered || dialog.status === 'queued')) {
    actions.push(actionButton('Accept', 'accept', dialog, 'primary'));
  }
  if (offered) actions.push(actionButton('Skip', 'skip', dialog));
  return h('li', itemAttrs(dialog, 'queue-item', offered ? ' offer' : ''), [
    summary(dialog, status),
    actions.length ? h('div', { class: 'item-actions' }, actions) : null,
  ]);
}

function operatorName(id) {
  const operator = state.operators.get(id);
  return operator ? operator.name : String(id);
}

function actionButton(label, action, dialog, kind = '') {
  const button = h('button', {
    type: 'button',
    class: `btn small ${kind}`,
    'data-testid': action,
    'aria-label': `${label} dialog with ${clientName(dialog)}`,
    text: label,
  });
  button.addEventListener('click', async () => {
    const after = await busy(button, () => api.act(dialog.id, action));
    if (!after) return;
    updateDialog(after);
    if (action === 'accept') select(after.id);
    else if (state.selectedId === dialog.id) select(null);
  });
  return button;
}

function dialogItem(dialog) {
  const unread = dialog.id === state.selectedId ? 0 : unreadCount(dialog.id);
  let status = `Since ${formatTime(dialog.opened_at)}`;
  if (dialog.operator_id && dialog.operator_id !== state.account.operator_id) {
    status = `With ${operatorName(dialog.operator_id)}`; // invited, or a supervisor watching
  }
  if (dialog.pinned) status = `Pinned · ${status}`;
  return h('li', itemAttrs(dialog, 'dialog-item'), [
    summary(dialog, status),
    h('span', {
      class: 'unread',
      'data-testid': 'unread',
      'aria-label': `${unread} unread`,
      hidden: unread === 0,
      text: String(unread),
    }),
  ]);
}
