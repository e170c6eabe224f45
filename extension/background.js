// The service worker: browser glue around Baton's Rust sync client (core-wasm, `worker` build).
// Chrome wakes a service worker only for listeners registered synchronously at start-up, so they
// are registered here at once and hand their events to the core when it has loaded.
import * as glue from './dist/worker/baton_core_bg.js';

const ports = new Map();
let nextPortId = 1;

/** What the Rust core calls back into (see `Host` in core-wasm/src/worker/mod.rs). */
const host = {
  postToPort(id, message) {
    try {
      ports.get(id)?.postMessage(message);
    } catch {
      // The tab went away; its disconnect event follows.
    }
  },
  storageGet: async (key) => (await chrome.storage.local.get(key))[key],
  storageSet: (key, value) => chrome.storage.local.set({ [key]: value }),
  storageRemove: (key) => chrome.storage.local.remove(key),
  notify(id, title, message, buttons) {
    const options = {
      type: 'basic',
      iconUrl: chrome.runtime.getURL('extension/icons/baton-128.png'),
      title,
      message,
      priority: 2,
      requireInteraction: true,
    };
    if (buttons.length) options.buttons = buttons.map((button) => ({ title: button }));
    chrome.notifications.create(id, options);
  },
  clearNotification(id) {
    chrome.notifications.clear(id);
  },
  focusTab(tabId) {
    chrome.tabs.update(tabId, { active: true }).then(
      (tab) => tab && chrome.windows.update(tab.windowId, { focused: true }),
    ).catch(() => {});
  },
  setBadge(tabId, text, color) {
    chrome.action.setBadgeText({ tabId, text }).catch(() => {});
    if (text) chrome.action.setBadgeBackgroundColor({ tabId, color }).catch(() => {});
  },
  randomId: () => crypto.randomUUID(),
};

let core = null;
const waiting = [];
const whenReady = (fn) => (core ? fn(core) : waiting.push(fn));

chrome.runtime.onConnect.addListener((port) => {
  if (port.name !== 'baton-tab') return;
  const id = nextPortId++;
  ports.set(id, port);
  const tabId = port.sender?.tab?.id ?? null;
  port.onMessage.addListener((message) => whenReady((c) => c.port_message(id, message)));
  port.onDisconnect.addListener(() => {
    ports.delete(id);
    whenReady((c) => c.port_closed(id));
  });
  whenReady((c) => c.port_opened(id, tabId));
});

chrome.runtime.onMessage.addListener((message, sender, sendResponse) => {
  if (message && message.loader_failed) {
    whenReady((c) => c.tab_failed(sender.tab?.id ?? -1, String(message.loader_failed)));
    return false;
  }
  whenReady((c) => c.popup(message).then(sendResponse, (error) => sendResponse({ error: String(error) })));
  return true; // the answer comes asynchronously
});

// A click on a notification opens its chat in a WhatsApp Web tab (the tests call this directly:
// a headless browser shows no notification to click).
globalThis.batonNotificationClicked = (id) => {
  chrome.notifications.clear(id);
  whenReady((c) => c.notification_clicked(id));
};
chrome.notifications.onClicked.addListener(globalThis.batonNotificationClicked);
// A notification's button ("Hand it over" on a colleague's request for a chat).
globalThis.batonNotificationButtonClicked = (id, index) => {
  chrome.notifications.clear(id);
  whenReady((c) => c.notification_button_clicked(id, index));
};
chrome.notifications.onButtonClicked.addListener(globalThis.batonNotificationButtonClicked);

(async () => {
  const url = chrome.runtime.getURL('extension/dist/worker/baton_core_bg.wasm');
  const { instance } = await WebAssembly.instantiateStreaming(fetch(url), {
    './baton_core_bg.js': glue,
  });
  glue.__wbg_set_wasm(instance.exports);
  instance.exports.__wbindgen_start?.();
  const started = new glue.Worker(host);
  await started.start();
  core = started;
  for (const fn of waiting.splice(0)) fn(core);
})().catch((error) => console.error('[baton] the sync core failed to start:', error));
