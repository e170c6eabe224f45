// The toolbar popup: a thin form over the service worker, which does the work (in Rust).
const $ = (id) => document.getElementById(id);

async function activeTabId() {
  const [tab] = await chrome.tabs.query({ active: true, currentWindow: true });
  return tab?.id ?? null;
}

function describeTab(status) {
  if (!status) return { text: 'Open WhatsApp Web in a tab to use Baton.', trouble: false };
  if (status.mode === 'failed') {
    return { text: status.error || 'Baton could not start on this page. Reload the tab; if it stays, ask your admin.', trouble: true };
  }
  const layout = status.layout;
  if (layout && layout.unrecognised) {
    return {
      text: "Baton is paused on this tab: WhatsApp Web has changed and Baton doesn't recognise it yet. Ask your admin to update Baton.",
      detail: `Missing: ${layout.unrecognised.missing.join(', ')}`,
      trouble: true,
    };
  }
  if (layout === 'waiting') return { text: 'Waiting for WhatsApp Web to finish loading…', trouble: false };
  return { text: 'Baton is running on this WhatsApp Web tab.', trouble: false };
}

function describeConnection(connection) {
  if (connection === 'online') return ['online', 'Connected', ''];
  if (connection === 'connecting') return ['connecting', 'Connecting…', ''];
  if (connection === 'logged_out') return ['logged_out', '', ''];
  if (connection && connection.offline) {
    const seconds = Math.ceil(connection.offline.retry_in_ms / 1000);
    return [
      'offline',
      `Can't reach your Baton server; trying again in ${seconds} s. Reply locks are off until it's back.`,
      connection.offline.error,
    ];
  }
  return ['unknown', '', ''];
}

// The names of the chat-identity sources (see core-wasm/src/identity.rs).
const SOURCES = {
  bridge: "WhatsApp's modules (page script)",
  message_ids: 'Chat ids in message rows (before April 2026)',
  indexed_db: "WhatsApp's database (IndexedDB)",
  phone_title: 'Phone numbers in chat titles',
  known_title: 'Titles known to your team',
};

function cell(row, text) {
  const td = document.createElement('td');
  td.textContent = text;
  row.appendChild(td);
}

/** Identity health and diagnostics of the tab. Counts and states only: no names, no messages. */
function renderIdentity(tab) {
  const identity = tab && tab.identity;
  $('identity').hidden = !identity;
  if (!identity) return;
  $('identity-level').textContent = identity.label;
  $('identity-level').dataset.level = identity.level;
  const missing = $('identity-missing');
  missing.replaceChildren();
  for (const item of identity.missing) {
    const li = document.createElement('li');
    li.textContent = item;
    missing.appendChild(li);
  }
  const body = $('identity-sources');
  body.replaceChildren();
  for (const source of identity.sources) {
    const row = document.createElement('tr');
    row.dataset.source = source.source;
    cell(row, SOURCES[source.source] || source.source);
    cell(row, source.note ? `${source.state} (${source.note})` : source.state);
    cell(row, String(source.chats_known));
    cell(row, String(source.resolved));
    body.appendChild(row);
  }
  const open = identity.open_chat_identified === null ? 'no chat open'
    : identity.open_chat_identified ? 'open chat identified' : 'open chat not identified';
  $('identity-rows').textContent =
    `${identity.rows} rows shown, ${identity.rows_unsure} marked "?"; ${open}; ${identity.bridge_rejected} page reports refused.`;
  const report = JSON.stringify({
    baton: chrome.runtime.getManifest().version,
    browser: navigator.userAgent,
    mode: tab.mode,
    layout: tab.layout,
    identity,
  });
  // Not while the user is selecting it.
  if (document.activeElement !== $('identity-report')) $('identity-report').value = report;
}

$('copy-report').addEventListener('click', async () => {
  try {
    await navigator.clipboard.writeText($('identity-report').value);
    $('copy-done').textContent = 'Copied';
  } catch {
    $('identity-report').select();
    $('copy-done').textContent = 'Select the report above and copy it';
  }
});

function render(state) {
  if (!state || state.error && !('connection' in state)) {
    $('error').textContent = 'Baton is not answering. Close this window and open it again; if it stays, reload the extension.';
    $('error').title = String(state && state.error);
    $('error').hidden = false;
    return;
  }
  const loggedIn = Boolean(state.agent);
  renderResponder(loggedIn && state.agent.role === 'responder');
  $('login').hidden = loggedIn;
  $('session').hidden = !loggedIn;
  if (loggedIn) {
    $('agent').textContent = `${state.agent.name} · ${ROLES[state.agent.role] || state.agent.role}`;
    $('org').textContent = [state.org && state.org.name, state.agent.email, state.server].filter(Boolean).join(' · ');
  } else if (state.server && !serverEdited) {
    // The address the agent used last, not the default, until they change it.
    $('login').elements.server.value = state.server;
  }
  const [connState, connText, connDetail] = describeConnection(state.connection);
  $('connection').dataset.state = connState;
  $('connection').textContent = connText;
  $('connection').title = connDetail;
  renderIdentity(state.tab || state.tabs[0]);
  const shown = state.tab || state.tabs[0];
  const tab = describeTab(shown);
  $('tab-status').textContent = tab.text;
  $('tab-status').title = tab.detail || '';
  // How the core runs is for diagnostics (and tests), not for the agent to read.
  if (shown) $('tab-status').dataset.mode = shown.mode;
  else delete $('tab-status').dataset.mode;
  $('tab-status').toggleAttribute('data-trouble', tab.trouble);
  const refused = state.refused_writes || [];
  $('refused').hidden = refused.length === 0;
  $('refused-list').replaceChildren(
    ...refused.map((r) => {
      const li = document.createElement('li');
      li.textContent = `${r.what}: ${r.reason}`;
      return li;
    }),
  );
  $('queued').hidden = !state.queued_writes;
  $('queued').textContent =
    state.queued_writes === 1 ? '1 change is waiting to be sent.' : `${state.queued_writes} changes are waiting to be sent.`;
  renderAvailability(state.availability);
  $('error').hidden = !state.error;
  $('error').textContent = state.error || '';
}

/** Available or away (routing gives new chats only to available agents), and my load. */
function renderAvailability(availability) {
  $('availability').hidden = !availability;
  if (!availability) return;
  const choice = $('availability-choice');
  choice.dataset.status = availability.status;
  // Not while the agent is choosing.
  if (document.activeElement !== choice) choice.value = availability.status === 'away' ? 'away' : 'available';
  $('availability-note').textContent =
    availability.status === 'offline' ? 'Not connected: open WhatsApp Web to receive chats' : '';
  const open = availability.open_chats;
  $('load').textContent = availability.capacity === null || availability.capacity === undefined
    ? `${open} open ${open === 1 ? 'chat' : 'chats'}`
    : `${open} of ${availability.capacity} chats open`;
}

const ROLES = { agent: 'Agent', lead: 'Team lead', admin: 'Admin', responder: 'First responder' };
// Set once the agent types a server address, so the remembered one does not overwrite it.
let serverEdited = false;
$('login').elements.server.addEventListener('input', () => { serverEdited = true; });

async function refresh() {
  render(await chrome.runtime.sendMessage({ state: { tab_id: await activeTabId() } }));
}

$('login').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  $('login-button').disabled = true;
  $('error').hidden = true;
  $('error').textContent = '';
  try {
    render(
      await chrome.runtime.sendMessage({
        login: { server: form.get('server'), email: form.get('email'), password: form.get('password') },
      }),
    );
  } finally {
    $('login-button').disabled = false;
  }
});

$('availability-choice').addEventListener('change', async (event) => {
  render(await chrome.runtime.sendMessage({ set_availability: { away: event.target.value === 'away' } }));
});
$('logout').addEventListener('click', async () => {
  await chrome.storage.local.remove('responderMode');
  render(await chrome.runtime.sendMessage('logout'));
});

/** Responder mode: offered to a responder account only, and off for anyone else. */
async function renderResponder(isSeat) {
  $('responder').hidden = !isSeat;
  const { responderMode } = await chrome.storage.local.get('responderMode');
  if (!isSeat) {
    if (responderMode) await chrome.storage.local.remove('responderMode');
    return;
  }
  $('responder-mode').checked = responderMode === true;
  renderResponderStatus((await chrome.storage.local.get('responderStatus')).responderStatus, responderMode === true);
}

/** What the seat in the WhatsApp Web tab last said of itself (working, waiting, or stopped and why). */
function renderResponderStatus(status, on) {
  const shown = on && status ? status.words : on ? 'Open WhatsApp Web in this browser to start answering.' : '';
  $('responder-status').textContent = shown;
  $('responder-status').dataset.state = on && status ? status.state : '';
}

chrome.storage.onChanged.addListener(async (changes, area) => {
  if (area !== 'local' || !('responderStatus' in changes || 'responderMode' in changes)) return;
  const { responderMode, responderStatus } = await chrome.storage.local.get(['responderMode', 'responderStatus']);
  renderResponderStatus(responderStatus, responderMode === true);
});

$('responder-mode').addEventListener('change', async (event) => {
  if (event.target.checked) await chrome.storage.local.set({ responderMode: true });
  else await chrome.storage.local.remove(['responderMode', 'responderStatus']);
});
$('dismiss-refused').addEventListener('click', async () => render(await chrome.runtime.sendMessage('dismiss_refused')));

refresh();
setInterval(refresh, 1000);

// The team's settings open in the extension's options page.
document.getElementById('settings').addEventListener('click', () => chrome.runtime.openOptionsPage());
