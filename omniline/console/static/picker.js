// The small modal that picks where a dialog goes: transfer (to an operator or a line) and
// invite (an operator joins).

import * as api from './api.js';
import { h } from './dom.js';
import { myOperatorId, state } from './state.js';
import { updateDialog } from './sync.js';
import { toast } from './ui.js';

const PRESENCE = { working: 'working', break: 'on a break', not_started: 'day not started' };

/** Open the picker for `mode` ('transfer' | 'invite') on `dialog`. */
export function openPicker(mode, dialog) {
  const transfer = mode === 'transfer';
  const operatorSelect = select(
    `${mode}-operator`,
    'Choose an operator',
    colleagues(dialog).map((o) => ({
      value: o.id,
      label: `${o.name} (${o.presence === 'offline' ? 'offline' : PRESENCE[o.shift] || o.shift})`,
    })),
  );
  const lineSelect = transfer
    ? select(
        'transfer-line',
        'Choose a line',
        [...state.lines.values()].map((l) => ({ value: l.id, label: l.name })),
      )
    : null;
  // A transfer goes to one operator or one line: choosing one clears the other.
  if (lineSelect) {
    operatorSelect.addEventListener('change', () => {
      if (operatorSelect.value) lineSelect.value = '';
    });
    lineSelect.addEventListener('change', () => {
      if (lineSelect.value) operatorSelect.value = '';
    });
  }
  const error = h('p', {
    class: 'form-error',
    role: 'alert',
    'data-testid': `${mode}-error`,
    hidden: true,
  });
  const submit = h('button', {
    type: 'submit',
    class: 'btn primary',
    'data-testid': `${mode}-submit`,
    text: transfer ? 'Transfer' : 'Invite',
  });
  const cancel = h('button', {
    type: 'button',
    class: 'btn',
    'data-testid': `${mode}-cancel`,
    text: 'Cancel',
  });
  const form = h('form', { method: 'dialog', class: 'picker-form' }, [
    h('h2', { text: transfer ? 'Transfer the dialog' : 'Invite a colleague' }),
    h('p', {
      class: 'muted',
      text: transfer
        ? 'The operator gets it as an offer, with the whole history; a line puts it into that line’s queue.'
        : 'The colleague joins the dialog and sees the whole history.',
    }),
    field('Operator', operatorSelect),
    lineSelect ? field('or line', lineSelect) : null,
    error,
    h('div', { class: 'picker-buttons' }, [cancel, submit]),
  ]);
  const modal = h(
    'dialog',
    {
      class: 'picker',
      'data-testid': `${mode}-dialog`,
      'aria-label': transfer ? 'Transfer' : 'Invite',
    },
    [form],
  );
  document.body.append(modal);
  modal.addEventListener('close', () => modal.remove());
  cancel.addEventListener('click', () => modal.close());

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = operatorSelect.value
      ? { operator_id: operatorSelect.value }
      : lineSelect && lineSelect.value
        ? { line_id: lineSelect.value }
        : null;
    if (!body) {
      showError(error, transfer ? 'Choose an operator or a line.' : 'Choose an operator.');
      return;
    }
    submit.disabled = true;
    try {
      updateDialog(await api.act(dialog.id, mode, body));
      toast(transfer ? 'The dialog was transferred.' : 'The colleague was invited.');
      modal.close();
    } catch (failure) {
      showError(error, failure.message);
    } finally {
      submit.disabled = false;
    }
  });
  modal.showModal();
  operatorSelect.focus();
}

/** Operators other than me and those already in the dialog. */
function colleagues(dialog) {
  const taken = new Set([myOperatorId(), dialog.operator_id, ...(dialog.members || [])]);
  return [...state.operators.values()]
    .filter((o) => !taken.has(o.id))
    .sort((a, b) => a.name.localeCompare(b.name));
}

function select(testid, placeholder, options) {
  return h('select', { 'data-testid': testid }, [
    h('option', { value: '', text: placeholder }),
    ...options.map((o) => h('option', { value: o.value, text: o.label })),
  ]);
}

function field(label, control) {
  return h('label', { class: 'field' }, [h('span', { text: label }), control]);
}

function showError(node, text) {
  node.textContent = text;
  node.hidden = false;
}
