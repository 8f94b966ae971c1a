// The middle pane: the selected dialog's header and actions, the client's history across all
// their dialogs and channels, and the reply box.

import * as api from './api.js';
import {
  channelBadge,
  clientColor,
  clientName,
  formatSize,
  formatTime,
  h,
  icon,
  keepingFocus,
  replace,
  safeUrl,
} from './dom.js';
import { openPicker } from './picker.js';
import {
  isMine,
  isOfferedToMe,
  isSupervisor,
  markSeen,
  messagesOf,
  myOperatorId,
  on,
  state,
} from './state.js';
import { ensureHistory, fetchNewMessages, loadClient, updateDialog } from './sync.js';
import { busy, select, setPane, toast } from './ui.js';

const PAST_DIALOGS = 10; // earlier dialogs of the client shown above the current one
const STICK_PX = 64; // "at the bottom" tolerance: new messages keep the view scrolled down
const MAX_FILE = 10 * 1024 * 1024;

const STATUS = {
  bot: 'With the bot',
  queued: 'In the queue',
  offered: 'Offered',
  active: 'Active',
  closed: 'Closed',
};

export function mountChat(root) {
  const header = h('header', { class: 'chat-header' });
  const banner = h('div', { class: 'banner', 'data-testid': 'chat-banner', role: 'status' });
  const timeline = h('div', {
    class: 'timeline',
    'data-testid': 'chat',
    role: 'log',
    'aria-label': 'Conversation',
    tabindex: '0',
  });
  const composer = new Composer();
  const empty = h('p', {
    class: 'chat-empty',
    'data-testid': 'chat-empty',
    text: 'Choose a dialog to see the conversation.',
  });
  replace(root, empty, header, banner, timeline, composer.node);

  // dialog id -> the <ol> its messages go into, for the dialogs now on screen
  let sections = new Map();
  let shownId = null;

  const current = () => state.dialogs.get(state.selectedId) || null;

  function renderAll() {
    const dialog = current();
    empty.hidden = !!dialog;
    for (const part of [header, banner, timeline, composer.node]) part.hidden = !dialog;
    if (!dialog) {
      shownId = null;
      return;
    }
    const switched = shownId !== dialog.id;
    if (switched) composer.reset();
    shownId = dialog.id;
    renderHeader(header, dialog);
    renderBanner(banner, dialog);
    composer.show(dialog);
    renderTimeline(switched);
    loadClient(dialog.client_id).catch(() => {}); // brings the earlier dialogs
  }

  function renderTimeline(toBottom = false) {
    const dialog = current();
    const atBottom = toBottom || isAtBottom(timeline);
    sections = new Map();
    const parts = timelineDialogs(dialog).map((d) => {
      const list = h(
        'ol',
        { class: 'messages' },
        messagesOf(d.id).map((m) => messageView(m, d)),
      );
      sections.set(d.id, list);
      ensureHistory(d.id).catch((error) => toast(error.message, { error: true }));
      return h(
        'section',
        { class: 'dialog-section', 'data-dialog-id': d.id, 'aria-label': `Dialog ${d.id}` },
        [divider(d, d.id === dialog.id), list],
      );
    });
    replace(timeline, ...parts);
    if (atBottom) timeline.scrollTop = timeline.scrollHeight;
  }

  function addMessages({ dialogId, added }) {
    const list = sections.get(dialogId);
    if (!list) return;
    const dialog = state.dialogs.get(dialogId) || pastDialog(dialogId);
    const atBottom = isAtBottom(timeline);
    for (const message of added) insertSorted(list, messageView(message, dialog), message.id);
    if (atBottom) timeline.scrollTop = timeline.scrollHeight;
    if (dialogId === state.selectedId) markSeen(dialogId);
  }

  on('selection', renderAll);
  on('message', addMessages);
  on('dialogs', (detail) => {
    const dialog = current();
    if (!dialog || (detail && detail.dialog && detail.dialog.id !== dialog.id)) return;
    keepingFocus(header, () => renderHeader(header, dialog));
    keepingFocus(banner, () => renderBanner(banner, dialog));
    composer.show(dialog);
  });
  // A newer client card may list earlier dialogs we do not show yet.
  on('client', (clientId) => {
    const dialog = current();
    if (!dialog || dialog.client_id !== clientId) return;
    const wanted = timelineDialogs(dialog)
      .map((d) => d.id)
      .join();
    if (wanted !== [...sections.keys()].join()) renderTimeline();
  });
  renderAll();
}

// --- the conversation -------------------------------------------------------------------------

/** The client's earlier dialogs (from the client card, if loaded), then this one. */
function timelineDialogs(dialog) {
  const card = state.clients.get(dialog.client_id);
  const past = ((card && card.dialogs) || [])
    .filter((d) => d.id !== dialog.id && d.id < dialog.id)
    .sort((a, b) => a.id - b.id)
    .slice(-PAST_DIALOGS);
  return [...past, dialog];
}

function pastDialog(dialogId) {
  for (const card of state.clients.values()) {
    const found = (card.dialogs || []).find((d) => d.id === dialogId);
    if (found) return found;
  }
  return { id: dialogId, client_id: null, client: {} };
}

function divider(dialog, isCurrent) {
  const channel = dialog.client && dialog.client.channel;
  const when = formatTime(dialog.opened_at);
  // The current dialog's status is in the header (and changes); earlier ones are settled.
  const text = isCurrent
    ? `Dialog #${dialog.id} · ${when}`
    : `Dialog #${dialog.id} · ${when} · ${STATUS[dialog.status] || dialog.status}`;
  return h('div', { class: 'divider' }, [channelBadge(channel), h('span', { text })]);
}

function isAtBottom(node) {
  return node.scrollHeight - node.scrollTop - node.clientHeight < STICK_PX;
}

function insertSorted(list, item, id) {
  const after = [...list.children].find((child) => Number(child.dataset.id) > id);
  list.insertBefore(item, after || null);
}

/** Who wrote it, as a kind of bubble: the client, a person on our side, or the system/bot. */
function messageKind(message) {
  if (message.author === 'client') return 'client';
  if (message.author.startsWith('operator:')) return 'operator';
  return 'system';
}

function messageView(message, dialog) {
  const kind = messageKind(message);
  const whisper = message.visibility === 'operators';
  const author = h('span', { class: 'author', text: message.author_name || message.author });
  if (kind === 'client' && dialog.client_id !== null)
    author.style.color = clientColor(dialog.client_id);
  const meta = h('div', { class: 'meta' }, [
    kind === 'client' ? channelBadge(dialog.client && dialog.client.channel) : null,
    author,
    h('time', { datetime: message.created_at, text: formatTime(message.created_at) }),
  ]);
  return h(
    'li',
    {
      class: `msg msg-${kind}${whisper ? ' whisper' : ''}`,
      'data-testid': 'chat-message',
      'data-id': message.id,
      'data-visibility': message.visibility,
      'data-author': message.author,
      'data-direction': message.direction,
    },
    [
      meta,
      whisper
        ? h('div', {
            class: 'whisper-label',
            'data-testid': 'whisper-label',
            text: 'Whisper · only operators see this',
          })
        : null,
      message.text ? h('div', { class: 'text', text: message.text }) : null,
      buttonPressView(message.button_payload),
      locationView(message.location),
      contactView(message.contact),
      attachmentsView(message.attachments || []),
      unsupportedView(message.unsupported),
      buttonsView(message.buttons || []),
    ],
  );
}

const KINDS = {
  image: 'Image',
  sticker: 'Sticker',
  video: 'Video',
  audio: 'Audio',
  voice: 'Voice message',
  document: 'File',
  link: 'Link',
};

/** Degrees with five decimals (about a metre), without trailing zeros: 52.52001. */
function degrees(value) {
  return value.toFixed(5).replace(/\.?0+$/, '');
}

/** A shared point: its coordinates, linked to OpenStreetMap with a marker. */
function locationView(location) {
  if (!location) return null;
  const lat = Number(location.latitude);
  const lon = Number(location.longitude);
  if (!Number.isFinite(lat) || !Number.isFinite(lon)) return null;
  const [la, lo] = [degrees(lat), degrees(lon)];
  const href = `https://www.openstreetmap.org/?mlat=${la}&mlon=${lo}#map=16/${la}/${lo}`;
  return h(
    'a',
    {
      class: 'share share-location',
      'data-testid': 'location',
      href,
      target: '_blank',
      rel: 'noopener noreferrer',
      title: 'Open the map',
    },
    [
      icon('pin'),
      h('span', { class: 'share-body' }, [
        h('span', { class: 'share-title', text: 'Location' }),
        h('span', { class: 'share-sub', text: `${la}, ${lo}` }),
      ]),
    ],
  );
}

/** A shared contact: the name and a phone number to call. */
function contactView(contact) {
  if (!contact || typeof contact.phone !== 'string') return null;
  const dial = contact.phone.replace(/[^0-9+]/g, '');
  return h('div', { class: 'share share-contact', 'data-testid': 'contact' }, [
    icon('user'),
    h('span', { class: 'share-body' }, [
      h('span', { class: 'share-title', text: contact.name || 'Shared contact' }),
      dial
        ? h('a', { class: 'share-sub', href: `tel:${dial}`, text: contact.phone })
        : h('span', { class: 'share-sub', text: contact.phone }),
    ]),
  ]);
}

/** The client pressed a button: its payload, next to the label shown as the text. */
function buttonPressView(payload) {
  if (typeof payload !== 'string') return null;
  return h('span', {
    class: 'chip press',
    'data-testid': 'button-press',
    title: 'The client pressed a button',
    text: `button: ${payload}`,
  });
}

function unsupportedView(unsupported) {
  if (!unsupported) return null;
  return h('div', {
    class: 'unsupported',
    'data-testid': 'unsupported',
    text: `Unsupported message: ${unsupported.kind}`,
  });
}

function attachmentsView(attachments) {
  if (!attachments.length) return null;
  return h(
    'ul',
    { class: 'attachments' },
    attachments.map((file) => h('li', { 'data-kind': file.kind }, [attachmentView(file)])),
  );
}

/** One attachment as the platform sent it: images inline, players for video and sound, a link
 * with its title, a download for other files; without an address, what it is, never a broken
 * image. */
function attachmentView(file) {
  const url = safeUrl(file.url);
  const kind = KINDS[file.kind] ? file.kind : 'document';
  const what = KINDS[kind];
  const name = file.name || '';
  if (!url) {
    return h('span', { class: 'attachment-missing', 'data-testid': 'attachment-missing' }, [
      icon('clip'),
      h('span', { text: [what, name, formatSize(file.size)].filter(Boolean).join(' · ') }),
      h('span', {
        class: 'file-hint',
        text: file.url ? 'not a web address, not opened' : 'kept by the messenger, no preview',
      }),
    ]);
  }
  const open = { href: url, target: '_blank', rel: 'noopener noreferrer' };
  if (kind === 'image' || kind === 'sticker') {
    return h('a', { ...open, class: `picture ${kind}`, title: name || what }, [
      h('img', { src: url, alt: name || what, loading: 'lazy', decoding: 'async' }),
    ]);
  }
  if (kind === 'video') {
    return h('video', {
      src: url,
      controls: true,
      preload: 'metadata',
      'aria-label': name || what,
    });
  }
  if (kind === 'audio' || kind === 'voice') {
    return h('span', { class: 'sound' }, [
      h('audio', { src: url, controls: true, preload: 'metadata', 'aria-label': name || what }),
      name ? h('span', { class: 'file-hint', text: name }) : null,
    ]);
  }
  if (kind === 'link') {
    let host = '';
    try {
      host = new URL(url).host;
    } catch {
      host = '';
    }
    return h('a', { ...open, class: 'share share-link', 'data-testid': 'link' }, [
      h('span', { class: 'share-body' }, [
        h('span', { class: 'share-title', text: name || url }),
        h('span', { class: 'share-sub', text: host }),
      ]),
    ]);
  }
  const label = [name || what, formatSize(file.size)].filter(Boolean).join(' · ');
  return h('a', { ...open, class: 'download', download: name || true }, [
    icon('clip'),
    h('span', { text: label }),
  ]);
}

/** The buttons the client was offered (bot menu, rating), for context only. */
function buttonsView(rows) {
  if (!rows.length) return null;
  return h(
    'div',
    { class: 'offered-buttons', 'aria-label': 'Buttons shown to the client' },
    rows.flat().map((b) => h('span', { class: 'chip', text: b.text })),
  );
}

// --- header, actions and the banner ---------------------------------------------------------

/** May I write in this dialog: it is active and mine, or I supervise. */
function canWrite(dialog) {
  return dialog.status === 'active' && (isMine(dialog) || isSupervisor());
}

function renderHeader(header, dialog) {
  const name = h('h2', {
    class: 'chat-title',
    'data-testid': 'chat-title',
    style: { color: clientColor(dialog.client_id) },
    text: clientName(dialog),
  });
  const status = h('span', {
    class: `status status-${dialog.status}`,
    'data-testid': 'chat-status',
    text: STATUS[dialog.status] || dialog.status,
  });
  const writable = canWrite(dialog);
  const actions = h('div', { class: 'actions', role: 'toolbar', 'aria-label': 'Dialog actions' }, [
    actionButton('Transfer', 'transfer', !writable, () => openPicker('transfer', dialog)),
    actionButton('Invite', 'invite', !writable, () => openPicker('invite', dialog)),
    actionButton(
      dialog.pinned ? 'Unpin' : 'Pin',
      'pin',
      !writable,
      (button) => run(button, dialog, dialog.pinned ? 'unpin' : 'pin'),
      {
        'aria-pressed': dialog.pinned ? 'true' : 'false',
      },
    ),
    actionButton('Create lead', 'lead', dialog.status === 'bot', async (button) => {
      if (await run(button, dialog, 'lead')) {
        toast('Lead created in the CRM.');
        loadClient(dialog.client_id, { fresh: true }).catch(() => {});
      }
    }),
    actionButton('Close', 'close', !writable, (button) => run(button, dialog, 'close'), {
      class: 'btn danger',
    }),
  ]);
  replace(
    header,
    h(
      'button',
      {
        type: 'button',
        class: 'icon-btn phone-only',
        'data-testid': 'back',
        'aria-label': 'Back to dialogs',
        onclick: () => setPane('list'),
      },
      [icon('back')],
    ),
    h('div', { class: 'chat-heading' }, [
      h('div', { class: 'title-row' }, [
        channelBadge(dialog.client && dialog.client.channel),
        name,
      ]),
      h('div', { class: 'sub' }, [
        status,
        dialog.rating
          ? h('span', { class: 'rating', text: ` · rated ${stars(dialog.rating)}` })
          : null,
      ]),
    ]),
    h(
      'button',
      {
        type: 'button',
        class: 'icon-btn phone-only',
        'data-testid': 'card-open',
        'aria-label': 'Client card',
        onclick: () => setPane('card'),
      },
      [icon('user')],
    ),
    actions,
  );
}

function actionButton(label, testid, disabled, onclick, extra = {}) {
  const button = h('button', {
    type: 'button',
    class: 'btn',
    'data-testid': testid,
    text: label,
    disabled,
    ...extra,
  });
  button.addEventListener('click', () => onclick(button));
  return button;
}

/** Post an action, store the dialog it answers; answers that dialog or undefined. */
async function run(button, dialog, action, body = {}) {
  const answer = await busy(button, () => api.act(dialog.id, action, body));
  // `lead` answers {dialog, record_id}; every other action the dialog itself.
  const after = answer && answer.dialog ? answer.dialog : answer;
  if (after) updateDialog(after);
  return after;
}

export function stars(score) {
  return '★'.repeat(score) + '☆'.repeat(Math.max(0, 5 - score));
}

function renderBanner(banner, dialog) {
  const me = myOperatorId();
  const parts = [];
  if (isOfferedToMe(dialog)) {
    parts.push('This dialog is offered to you.');
    parts.push(bannerButton('Accept', 'chat-accept', dialog, 'accept', 'primary'));
    parts.push(bannerButton('Skip', 'chat-skip', dialog, 'skip'));
  } else if (dialog.status === 'queued') {
    parts.push('The client waits in the queue.');
    if (me) parts.push(bannerButton('Accept', 'chat-accept', dialog, 'accept', 'primary'));
  } else if (dialog.status === 'offered') {
    parts.push(`Offered to ${(dialog.offered_to || [dialog.operator_id]).map(nameOf).join(', ')}.`);
  } else if (dialog.status === 'bot') {
    parts.push('The bot is talking to the client.');
  } else if (dialog.status === 'closed') {
    parts.push(dialog.rating ? `Closed. The client rated it ${stars(dialog.rating)}.` : 'Closed.');
    if (me) parts.push(bannerButton('Reopen', 'reopen', dialog, 'reopen'));
  } else if (dialog.status === 'active' && !isMine(dialog)) {
    parts.push(`${nameOf(dialog.operator_id)} is handling this dialog.`);
  }
  banner.hidden = parts.length === 0;
  replace(banner, ...parts.map((p) => (typeof p === 'string' ? h('span', { text: p }) : p)));
}

function bannerButton(label, testid, dialog, action, kind = '') {
  const button = h('button', {
    type: 'button',
    class: `btn small ${kind}`,
    'data-testid': testid,
    text: label,
  });
  button.addEventListener('click', async () => {
    const after = await run(button, dialog, action);
    if (after && action === 'skip') select(null);
  });
  return button;
}

function nameOf(operatorId) {
  const operator = state.operators.get(operatorId);
  return operator ? operator.name : String(operatorId || 'somebody');
}

// --- the reply box --------------------------------------------------------------------------

class Composer {
  constructor() {
    this.dialog = null;
    this.whisper = false;
    this.attachments = []; // upload results, sent with the next reply
    this.uploading = 0;

    this.text = h('textarea', {
      rows: '2',
      'data-testid': 'reply-text',
      'aria-label': 'Reply',
      placeholder: 'Write a reply…',
    });
    this.text.addEventListener('keydown', (e) => {
      // Enter sends, Shift+Enter starts a new line (as in most messengers).
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.send();
      }
    });
    this.file = h('input', {
      type: 'file',
      multiple: true,
      hidden: true,
      'data-testid': 'attach-input',
      'aria-label': 'Attach files',
    });
    this.file.addEventListener('change', () => this.upload([...this.file.files]));
    this.attach = h(
      'button',
      {
        type: 'button',
        class: 'icon-btn',
        'data-testid': 'attach',
        'aria-label': 'Attach a file',
        title: 'Attach a file',
        onclick: () => this.file.click(),
      },
      [icon('clip')],
    );
    this.toggle = h('button', {
      type: 'button',
      class: 'toggle',
      'data-testid': 'whisper-toggle',
      'aria-pressed': 'false',
      title: 'Whisper: a note only operators see',
      text: 'Whisper',
      onclick: () => this.setWhisper(!this.whisper),
    });
    this.sendButton = h(
      'button',
      {
        type: 'button',
        class: 'btn primary',
        'data-testid': 'send',
        'aria-label': 'Send',
        onclick: () => this.send(),
      },
      [icon('send'), h('span', { text: 'Send' })],
    );
    this.files = h('ul', {
      class: 'pending-files',
      'data-testid': 'attachments',
      'aria-label': 'Files to send',
    });
    this.hint = h('div', {
      class: 'whisper-hint',
      'data-testid': 'whisper-hint',
      hidden: true,
      text: 'Whisper mode: only operators see this.',
    });
    this.node = h(
      'form',
      {
        class: 'composer',
        'aria-label': 'Reply to the client',
        onsubmit: (e) => {
          e.preventDefault();
          this.send();
        },
      },
      [
        this.hint,
        this.files,
        h('div', { class: 'composer-row' }, [
          this.attach,
          this.file,
          this.text,
          this.toggle,
          this.sendButton,
        ]),
      ],
    );
  }

  /** A different dialog was selected: start empty, not in whisper mode. */
  reset() {
    this.text.value = '';
    this.attachments = [];
    this.renderFiles();
    this.setWhisper(false);
  }

  show(dialog) {
    this.dialog = dialog;
    this.node.hidden = !canWrite(dialog);
  }

  setWhisper(on) {
    this.whisper = on;
    this.toggle.setAttribute('aria-pressed', String(on));
    this.node.classList.toggle('whispering', on);
    this.hint.hidden = !on;
    this.attach.disabled = on; // whispers are text only
    this.text.placeholder = on
      ? 'Whisper to operators (the client does not see this)…'
      : 'Write a reply…';
    this.text.setAttribute('aria-label', on ? 'Whisper' : 'Reply');
    this.renderFiles();
  }

  async upload(files) {
    this.file.value = '';
    for (const file of files) {
      if (file.size > MAX_FILE) {
        toast(`${file.name} is larger than 10 MB.`, { error: true });
        continue;
      }
      this.uploading += 1;
      this.renderFiles();
      try {
        this.attachments.push(await api.upload(file));
      } catch (error) {
        toast(`${file.name}: ${error.message}`, { error: true });
      } finally {
        this.uploading -= 1;
        this.renderFiles();
      }
    }
  }

  renderFiles() {
    const items = this.whisper
      ? []
      : this.attachments.map((file, i) =>
          h('li', { class: 'chip' }, [
            h('span', { text: file.name || 'file' }),
            h('button', {
              type: 'button',
              class: 'link',
              'aria-label': `Remove ${file.name || 'file'}`,
              text: '×',
              onclick: () => {
                this.attachments.splice(i, 1);
                this.renderFiles();
              },
            }),
          ]),
        );
    if (this.uploading) items.push(h('li', { class: 'chip muted', text: 'Uploading…' }));
    replace(this.files, ...items);
    this.files.hidden = items.length === 0;
    this.sendButton.disabled = this.uploading > 0;
  }

  async send() {
    const dialog = this.dialog;
    const text = this.text.value.trim();
    if (!dialog || this.uploading) return;
    let action;
    let body;
    if (this.whisper) {
      if (!text) return;
      [action, body] = ['whisper', { text }];
    } else {
      if (!text && !this.attachments.length) return;
      body = {};
      if (text) body.text = text;
      if (this.attachments.length) body.attachments = this.attachments;
      action = 'reply';
    }
    const after = await busy(this.sendButton, () => api.act(dialog.id, action, body));
    if (!after) return; // the text stays in the box to try again
    this.text.value = '';
    if (!this.whisper) this.attachments = [];
    this.renderFiles();
    updateDialog(after);
    fetchNewMessages(dialog.id).catch(() => {}); // the push usually brings it first
    this.text.focus();
  }
}
