// The top bar: pages, my presence and working day, the live connection, logout.

import * as api from './api.js';
import { h, replace } from './dom.js';
import { emit, isSupervisor, myOperator, myOperatorId, on, state } from './state.js';
import { busy, setView } from './ui.js';

// Which shift buttons make sense in which state of the working day.
const SHIFT_ACTIONS = [
  { action: 'start', label: 'Start day', when: ['not_started'] },
  { action: 'break', label: 'Break', when: ['working'] },
  { action: 'resume', label: 'Resume', when: ['break'] },
  { action: 'finish', label: 'Finish day', when: ['working', 'break'] },
];

const CONNECTION = { connecting: 'Connecting…', live: 'Live', offline: 'Reconnecting…' };

/** Mount the bar into `root`; `onLogout` ends the session. */
export function mountHeader(root, { onLogout }) {
  const dialogsNav = navButton('Dialogs', 'dialogs-nav', 'dialogs');
  const statsNav = navButton('Statistics', 'stats-nav', 'stats');
  const presence = h('span', { class: 'presence', 'data-testid': 'presence', role: 'status' });
  const shiftButtons = SHIFT_ACTIONS.map(({ action, label }) => {
    const button = h('button', {
      type: 'button',
      class: 'btn small',
      'data-testid': `shift-${action}`,
      text: label,
    });
    button.addEventListener('click', () => changeShift(button, action));
    return button;
  });
  const shift = h('div', { class: 'shift', role: 'group', 'aria-label': 'My working day' }, [
    presence,
    ...shiftButtons,
  ]);
  const connection = h('span', { class: 'connection', 'data-testid': 'connection' });
  const who = h('span', { class: 'who', 'data-testid': 'account' });
  const logout = h('button', {
    type: 'button',
    class: 'btn small',
    'data-testid': 'logout',
    text: 'Log out',
    onclick: onLogout,
  });
  const nav = h('nav', { class: 'nav', 'aria-label': 'Pages' }, [dialogsNav, statsNav]);
  replace(
    root,
    h('span', { class: 'brand', text: 'omniline' }),
    nav,
    shift,
    h('span', { class: 'spacer' }),
    connection,
    who,
    logout,
  );

  function renderShift() {
    shift.hidden = !myOperatorId();
    // Until the operators list says otherwise, assume the day has not started.
    const me = myOperator() || { presence: 'offline', shift: 'not_started' };
    presence.textContent = presenceLabel(me);
    presence.dataset.presence = me.presence;
    presence.dataset.shift = me.shift;
    SHIFT_ACTIONS.forEach(({ when }, i) => {
      shiftButtons[i].hidden = !when.includes(me.shift);
    });
  }

  function renderNav() {
    // Operators have one page; only supervisors choose between dialogs and statistics.
    nav.hidden = !isSupervisor();
    dialogsNav.setAttribute('aria-current', state.view === 'dialogs' ? 'page' : 'false');
    statsNav.setAttribute('aria-current', state.view === 'stats' ? 'page' : 'false');
    who.textContent = state.account ? state.account.name : '';
  }

  on('operators', renderShift);
  on('view', renderNav);
  on('push', () => {
    connection.textContent = CONNECTION[state.push];
    connection.dataset.state = state.push;
  });
  return () => {
    renderShift();
    renderNav();
  };
}

function navButton(label, testid, view) {
  return h('button', {
    type: 'button',
    class: 'nav-link',
    'data-testid': testid,
    text: label,
    onclick: () => setView(view),
  });
}

function presenceLabel(operator) {
  if (operator.shift === 'working')
    return operator.presence === 'online' ? 'Online · working' : 'Working (offline)';
  if (operator.shift === 'break') return 'On a break';
  return operator.presence === 'online' ? 'Online · day not started' : 'Offline';
}

async function changeShift(button, action) {
  const operator = await busy(button, () => api.shift(myOperatorId(), action));
  if (!operator) return;
  state.operators.set(operator.id, operator);
  emit('operators', operator);
}
