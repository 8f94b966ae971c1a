// The operator console: login, the session's lifetime, and which pane is on screen.
//
// Modules: api.js (REST), push.js (WebSocket), state.js (what we know), sync.js (keeping it
// current), and one module per part of the screen: header.js, lists.js, chat.js, card.js,
// stats.js, picker.js (transfer / invite modal), notify.js (title and beep).

import * as api from './api.js';
import { mountCard } from './card.js';
import { mountChat } from './chat.js';
import { mountHeader } from './header.js';
import { mountLists } from './lists.js';
import { setTitle, unlockAudio } from './notify.js';
import { Push } from './push.js';
import { emit, loadSeen, on, reset, state } from './state.js';
import { mountStats } from './stats.js';
import { applyFrame, loadSnapshot } from './sync.js';
import { sentence, toast } from './ui.js';

// How long to wait for the push hello before loading the snapshot anyway (push may be down).
const HELLO_WAIT_MS = 3000;
// After this many failed reconnects in a row, check whether the session is still valid.
const CHECK_SESSION_AFTER = 2;

const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);

const loginView = document.getElementById('login');
const appView = document.getElementById('app');
const desk = document.getElementById('desk');

let push = null;
let generation = 0; // bumps at every login and logout, so late answers of a session are dropped

// --- login ----------------------------------------------------------------------------------

function showLogin(message = '') {
  appView.hidden = true;
  loginView.hidden = false;
  const error = $('login-error');
  error.textContent = message;
  error.hidden = !message;
  $('login-password').value = '';
  setTitle(0);
  $($('login-name').value ? 'login-password' : 'login-name').focus();
}

async function submitLogin(event) {
  event.preventDefault();
  unlockAudio(); // a click: the moment browsers allow sound for later offers
  const submit = $('login-submit');
  const error = $('login-error');
  submit.disabled = true;
  try {
    const session = await api.login($('login-name').value.trim(), $('login-password').value);
    error.hidden = true;
    await startSession(session);
  } catch (failure) {
    error.textContent = loginMessage(failure);
    error.hidden = false;
    $('login-password').select();
  } finally {
    submit.disabled = false;
  }
}

function loginMessage(failure) {
  const text = sentence(failure.message || 'Wrong login or password.');
  if (failure.status === 429 && failure.retryAfter) {
    return `${text.replace(/\.$/, '')} (in ${failure.retryAfter} s).`;
  }
  return text;
}

// --- the session ----------------------------------------------------------------------------

async function startSession(session) {
  const mine = ++generation;
  state.account = session.account;
  api.setCsrfToken(session.csrf_token);
  loadSeen();
  loginView.hidden = true;
  appView.hidden = false;
  renderHeader();
  emit('view');
  emit('selection', null);

  // Frames that arrive while the snapshot loads wait, then apply on top of it: each carries
  // the dialog's state now, so the newest state wins either way.
  let buffer = [];
  let helloSeen;
  const hello = new Promise((resolve) => {
    helloSeen = resolve;
  });
  push = new Push({
    onFrame(frame) {
      if (frame.type === 'hello') helloSeen();
      if (buffer) buffer.push(frame);
      else applyFrame(frame);
    },
    onState(value) {
      state.push = value;
      emit('push');
    },
    onDropped: (failures) => {
      if (failures >= CHECK_SESSION_AFTER) checkSession(mine);
    },
  });
  push.start();
  // Ask for the snapshot only after the push has started counting, so nothing falls between.
  await Promise.race([hello, new Promise((resolve) => setTimeout(resolve, HELLO_WAIT_MS))]);
  if (mine !== generation) return;
  try {
    await loadSnapshot();
  } catch (error) {
    if (mine === generation) toast(`Could not load the dialogs: ${error.message}`, { error: true });
  }
  if (mine !== generation) return;
  const waiting = buffer;
  buffer = null;
  waiting.forEach(applyFrame);
}

async function checkSession(mine) {
  try {
    const session = await api.me();
    if (mine === generation) api.setCsrfToken(session.csrf_token);
  } catch (error) {
    if (mine === generation && error.status === 401)
      endSession('Your session has ended. Please log in again.');
  }
}

function endSession(message = '') {
  generation += 1;
  if (push) push.stop();
  push = null;
  api.setCsrfToken(null);
  document.querySelectorAll('dialog.picker').forEach((modal) => modal.close());
  reset();
  emit('selection', null);
  emit('dialogs');
  showLogin(message);
}

async function logout() {
  await api.logout().catch(() => {}); // leaving anyway
  endSession();
}

// --- layout ---------------------------------------------------------------------------------

/** Which page (dialogs or statistics) and, on a phone, which pane of the dialogs page. */
function renderLayout() {
  desk.dataset.pane = state.pane;
  desk.hidden = state.view !== 'dialogs';
  $('stats-page').hidden = state.view !== 'stats';
}

// --- start ----------------------------------------------------------------------------------

const renderHeader = mountHeader(document.getElementById('topbar'), { onLogout: logout });
mountLists(document.getElementById('lists'));
mountChat(document.getElementById('chat'));
mountCard(document.getElementById('card'));
mountStats($('stats-page'));
on('view', renderLayout);

api.setUnauthenticatedHandler(() => {
  if (state.account) endSession('Your session has ended. Please log in again.');
});
$('login-form').addEventListener('submit', submitLogin);
document.addEventListener('pointerdown', unlockAudio);

api.me().then(startSession, (error) => showLogin(error.status === 401 ? '' : error.message));
