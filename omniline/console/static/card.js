// The right pane: who the client is (identities in every channel, contacts, CRM record) and
// their dialogs.

import { stars } from './chat.js';
import { channelBadge, clientColor, clientName, formatTime, h, icon, replace } from './dom.js';
import { on, putDialog, state } from './state.js';
import { ensureHistory, loadClient } from './sync.js';
import { select, setPane } from './ui.js';

const CARD_REFRESH_MS = 1000;

export function mountCard(root) {
  const body = h('div', { class: 'card-body' });
  replace(
    root,
    h('header', { class: 'card-header' }, [
      h(
        'button',
        {
          type: 'button',
          class: 'icon-btn phone-only',
          'data-testid': 'card-back',
          'aria-label': 'Back to the chat',
          onclick: () => setPane('chat'),
        },
        [icon('back')],
      ),
      h('h2', { text: 'Client' }),
    ]),
    body,
  );

  function render() {
    const dialog = state.dialogs.get(state.selectedId);
    root.hidden = !dialog;
    if (!dialog) return;
    const card = state.clients.get(dialog.client_id);
    if (!card) {
      replace(body, h('p', { class: 'muted', text: 'Loading…' }));
      return;
    }
    replace(body, ...cardView(dialog, card));
  }

  // What the client writes may give a phone or an email: reload the card after their messages
  // (once per burst).
  let timer = null;
  on('message', ({ dialogId, added }) => {
    const dialog = state.dialogs.get(dialogId);
    if (dialogId !== state.selectedId || !dialog || !added.some((m) => m.author === 'client'))
      return;
    clearTimeout(timer);
    timer = setTimeout(
      () => loadClient(dialog.client_id, { fresh: true }).catch(() => {}),
      CARD_REFRESH_MS,
    );
  });
  on('selection', render);
  on('client', render);
  on('dialogs', render);
  render();
}

function cardView(dialog, card) {
  return [
    h('p', {
      class: 'client-name',
      style: { color: clientColor(card.id) },
      text: clientName(dialog),
    }),
    section('Identities', list((card.identities || []).map(identityView), 'identities')),
    section('Contacts', contactsView(card.contacts || {})),
    section(
      'CRM',
      h('p', { 'data-testid': 'crm-record', text: card.crm_record || 'Not in the CRM yet.' }),
    ),
    section(
      'Dialogs',
      list(
        (card.dialogs || [])
          .slice()
          .sort((a, b) => b.id - a.id)
          .map(pastDialogView),
        'past-dialogs',
      ),
    ),
  ];
}

function section(title, content) {
  return h('section', { class: 'card-section' }, [h('h3', { text: title }), content]);
}

function list(items, testid) {
  return items.length
    ? h('ul', { class: 'plain', 'data-testid': testid }, items)
    : h('p', { class: 'muted', text: 'None.' });
}

function identityView(identity) {
  // The contract's flat fields, or the store's shape (external_id, display_name, profile).
  const profile = identity.profile || {};
  const userId = identity.user_id || identity.external_id || '';
  const name = identity.name || identity.display_name || profile.username;
  const details = [
    identity.phone || profile.phone,
    identity.email || profile.email,
    identity.language || profile.language,
  ]
    .filter(Boolean)
    .join(' · ');
  return h('li', { class: 'identity' }, [
    channelBadge(identity.channel),
    h('span', { class: 'item-text' }, [
      h('span', { class: 'identity-name', text: name || userId }),
      name || details ? h('span', { class: 'sub', text: details || userId }) : null,
    ]),
  ]);
}

function contactsView(contacts) {
  const rows = [
    ...(contacts.phone || []).map((p) => ['Phone', p]),
    ...(contacts.email || []).map((e) => ['Email', e]),
  ];
  if (!rows.length) return h('p', { class: 'muted', text: 'No phone or email yet.' });
  return h(
    'dl',
    { class: 'contacts' },
    rows.flatMap(([k, v]) => [h('dt', { text: k }), h('dd', { text: v })]),
  );
}

function pastDialogView(dialog) {
  const rating = dialog.rating ? ` · ${stars(dialog.rating)}` : '';
  const open = () => {
    // A closed dialog is not in the live list; keep it so the chat can show it.
    if (!state.dialogs.has(dialog.id)) putDialog(dialog);
    ensureHistory(dialog.id).catch(() => {});
    select(dialog.id);
  };
  return h('li', {}, [
    h(
      'button',
      { type: 'button', class: 'link past-dialog', 'data-dialog-id': dialog.id, onclick: open },
      [
        channelBadge(dialog.client && dialog.client.channel),
        h('span', {
          text: `#${dialog.id} · ${formatTime(dialog.opened_at)} · ${dialog.status}${rating}`,
        }),
      ],
    ),
  ]);
}
