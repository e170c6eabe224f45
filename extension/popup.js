// The toolbar popup: a thin form over the service worker, which does the work (in Rust).
const $ = (id) => document.getElementById(id);

async function activeTabId() {
  const [tab] = await chrome.tabs.query({ active: true, currentWindow: true });
  return tab?.id ?? null;
}

function describeTab(status) {
  if (!status) return { text: 'No WhatsApp Web tab is open.', trouble: false };
  if (status.mode === 'failed') return { text: status.error || 'Baton could not start on this page.', trouble: true };
  const mode =
    status.mode === 'wasm2js'
      ? "JavaScript fallback (this page's security policy blocks WebAssembly)"
      : 'WebAssembly';
  const layout = status.layout;
  if (layout && layout.unrecognised) {
    return {
      text: `WhatsApp Web layout not recognised (missing: ${layout.unrecognised.missing.join(', ')}). Baton is paused on this tab.`,
      trouble: true,
    };
  }
  if (layout === 'waiting') return { text: `Waiting for WhatsApp Web to load · ${mode}`, trouble: false };
  return { text: `Overlay running · ${mode}`, trouble: false };
}

function describeConnection(connection) {
  if (connection === 'online') return ['online', 'Connected'];
  if (connection === 'connecting') return ['connecting', 'Connecting…'];
  if (connection === 'logged_out') return ['logged_out', ''];
  if (connection && connection.offline) {
    const seconds = Math.ceil(connection.offline.retry_in_ms / 1000);
    return ['offline', `Server unreachable: ${connection.offline.error}. Retrying in ${seconds} s.`];
  }
  return ['unknown', ''];
}

function render(state) {
  if (!state || state.error && !('connection' in state)) {
    $('error').textContent = `Baton's service worker is not answering: ${state && state.error}`;
    $('error').hidden = false;
    return;
  }
  const loggedIn = Boolean(state.agent);
  $('login').hidden = loggedIn;
  $('session').hidden = !loggedIn;
  if (loggedIn) {
    $('agent').textContent = `${state.agent.name} (${state.agent.role}) · ${state.agent.email}`;
    $('org').textContent = state.org ? `${state.org.name} · ${state.server}` : state.server;
  }
  const [connState, connText] = describeConnection(state.connection);
  $('connection').dataset.state = connState;
  $('connection').textContent = connText;
  const tab = describeTab(state.tab || state.tabs[0]);
  $('tab-status').textContent = tab.text;
  $('tab-status').toggleAttribute('data-trouble', tab.trouble);
  $('queued').hidden = !state.queued_writes;
  $('queued').textContent = `${state.queued_writes} change(s) waiting to be sent`;
  $('error').hidden = !state.error;
  $('error').textContent = state.error || '';
}

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

$('logout').addEventListener('click', async () => render(await chrome.runtime.sendMessage('logout')));

refresh();
setInterval(refresh, 1000);
