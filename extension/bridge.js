// Baton's bridge in WhatsApp Web's MAIN world (manifest: "world": "MAIN", document_start).
//
// Since April 2026 WhatsApp Web's DOM names no chat, so the only reliable source of chat ids is
// WhatsApp's own JavaScript: its module system (`__d`/`require`, assigned late, modules
// registered over seconds) and the chat and message collections in it. This script finds them
// (the documented module names first, then by shape among modules named like collections or
// stores, so a rename degrades instead of breaking) and reports plain facts — the chats in list
// order with their ids and titles, the open chat, and new messages (id, chat, direction,
// WhatsApp's time; never their text) — to Baton's Rust core in the isolated world, which
// validates and cross-checks everything (core-wasm/src/identity/bridge.rs).
//
// The MAIN world is shared with the page and other extensions, so this script holds no token,
// makes no request, and talks only over a MessageChannel whose other end it hands to Baton's
// isolated-world script (bridge-port.js) synchronously at document_start, before any page script
// has run: no page script ever holds that end, so none can read the reports or send its own. The
// functions that send are taken now, before any page script could replace them. What the reports
// say is only as true as WhatsApp's objects, which any script in this world can tamper with: the
// core treats them as hints, checked against what the page shows.
(() => {
  'use strict';
  const postMessage = MessagePort.prototype.postMessage;
  const stringify = JSON.stringify;
  const apply = Reflect.apply;
  const VERSION = 1;
  const MAX_CHATS = 20000;
  const started = Date.now();

  // ---- the private channel -----------------------------------------------------------------------
  const channel = new MessageChannel();
  const port = channel.port1;
  let handedOver = false;
  const offer = () => {
    if (handedOver) return;
    // The isolated-world receiver cancels the event to say it took the port.
    const event = new MessageEvent('baton-bridge-port', { ports: [channel.port2], cancelable: true });
    handedOver = !document.dispatchEvent(event);
    if (handedOver) document.removeEventListener('baton-bridge-want', offer);
  };
  document.addEventListener('baton-bridge-want', offer);
  offer();

  const send = (type, fields) => {
    try {
      apply(postMessage, port, [stringify({ v: VERSION, type, ...fields })]);
    } catch {
      // A value that cannot be serialised is dropped; the core reports what it did not get.
    }
  };

  // ---- reading WhatsApp's objects defensively ----------------------------------------------------
  const safe = (read, fallback = null) => {
    try {
      const value = read();
      return value === undefined ? fallback : value;
    } catch {
      return fallback;
    }
  };
  const JID = /^[0-9-]{5,40}@(c\.us|lid|g\.us)$/;
  // A WhatsApp id object: `_serialized`, or (newer builds) only `toString()`.
  const wid = (value) => {
    const text = safe(() => (typeof value === 'string' ? value : value && (value._serialized || String(value))));
    return typeof text === 'string' && JID.test(text) ? text : null;
  };
  const text = (value) => (typeof value === 'string' && value.trim() ? value : null);
  const titleOf = (chat) =>
    safe(() => text(chat.formattedTitle) || text(chat.name) || text(chat.contact && chat.contact.name) ||
      text(chat.groupMetadata && chat.groupMetadata.subject) || text(chat.contact && chat.contact.pushname));

  // ---- finding the modules -----------------------------------------------------------------------
  const load = (name) => {
    for (const loader of [window.importNamespace, window.require]) {
      if (typeof loader !== 'function') continue;
      const module = safe(() => loader(name));
      if (module) return module;
    }
    return null;
  };
  const isCollection = (value) =>
    Boolean(value) && typeof value === 'object' && typeof value.getModelsArray === 'function' && typeof value.on === 'function';
  // A module's exports may be wrapped as `{default: exports}`.
  const exported = (module, key) => safe(() => module[key]) || safe(() => module.default[key]);

  // `lidPnCache`: WhatsApp's own map between a person's @lid and phone-number ids.
  const found = { chats: null, messages: null, lidPn: null, via: 'none' };
  let moduleCount = -1;

  const findByName = () => {
    const all = load('WAWebCollections');
    const chats = exported(all, 'Chat') || exported(load('WAWebChatCollection'), 'ChatCollection');
    const messages = exported(all, 'Msg') || exported(load('WAWebMsgCollection'), 'MsgCollection');
    return { chats: isCollection(chats) ? chats : null, messages: isCollection(messages) ? messages : null };
  };

  // After a rename: any collection-like export of a module named like a collection or store, told
  // apart by its export key and the shape of its models.
  const findByShape = () => {
    const map = safe(() => window.require('__debug').modulesMap);
    if (!map || typeof map !== 'object') return { chats: null, messages: null };
    const names = Object.keys(map).filter((name) => /^(use)?WA/.test(name) && /Collection|Store/.test(name));
    let chats = null;
    let messages = null;
    for (const name of names) {
      const module = load(name);
      if (!module) continue;
      for (const holder of [module, safe(() => module.default)]) {
        if (!holder || typeof holder !== 'object') continue;
        for (const key of Object.keys(holder)) {
          const value = safe(() => holder[key]);
          if (!isCollection(value)) continue;
          const first = safe(() => value.getModelsArray()[0]);
          if (!chats && (/chat|conversation/i.test(key) || (first && 'active' in first && 'formattedTitle' in first))) chats = value;
          else if (!messages && (/msg|message/i.test(key) || (first && 'isNewMsg' in first))) messages = value;
        }
      }
    }
    return { chats, messages };
  };

  // ---- what is reported --------------------------------------------------------------------------
  const describe = (chat) => {
    const id = wid(safe(() => chat.id));
    const title = titleOf(chat);
    if (!id || !title) return null;
    const contact = safe(() => chat.contact);
    // The other id of the same person: the phone number of an @lid contact, or the reverse.
    let alias = null;
    if (id.endsWith('@lid')) {
      alias = wid(safe(() => contact.phoneNumber)) || wid(safe(() => found.lidPn.getPhoneNumber(chat.id)));
    } else if (id.endsWith('@c.us')) {
      alias = wid(safe(() => contact.lid)) || wid(safe(() => found.lidPn.getCurrentLid(chat.id)));
    }
    return { id, title, alias, archived: Boolean(safe(() => chat.archive)) };
  };

  const reportStatus = () =>
    send('status', {
      modules: { chats: Boolean(found.chats), active: Boolean(found.chats), messages: Boolean(found.messages) },
      via: found.via,
    });

  let listTimer = null;
  const reportChats = () => {
    listTimer = null;
    const models = safe(() => found.chats.getModelsArray(), []);
    const chats = [];
    for (const model of models) {
      const chat = describe(model);
      if (chat) chats.push(chat);
      if (chats.length >= MAX_CHATS) break;
    }
    send('chats', { chats });
    // The open chat's title may have changed with the list.
    reportActive();
  };
  // Several changes in one task (a message re-sorts the list and changes its time) make one report.
  const scheduleChats = () => {
    if (listTimer === null) listTimer = setTimeout(reportChats, 0);
  };

  let activeId;
  const reportActive = () => {
    const chat = safe(() =>
      typeof found.chats.getActive === 'function' ? found.chats.getActive() : found.chats.findFirst((c) => c.active));
    const described = chat ? describe(chat) : null;
    activeId = described ? described.id : null;
    send('active', { chat: described });
  };

  const seenMessages = new Set();
  const reportMessage = (message) => {
    if (!safe(() => message.isNewMsg) || safe(() => message.isNotification)) return;
    const key = safe(() => message.id);
    const id = safe(() => key.id);
    const chat = wid(safe(() => key.remote));
    const t = safe(() => message.t);
    if (typeof id !== 'string' || !chat || typeof t !== 'number' || seenMessages.has(id)) return;
    seenMessages.add(id);
    if (seenMessages.size > 5000) seenMessages.clear();
    send('message', { message: { id, chat, from_me: Boolean(safe(() => key.fromMe)), t } });
  };

  const watchChats = () => {
    for (const event of ['add', 'remove', 'reset', 'sort', 'change:formattedTitle', 'change:name', 'change:archive', 'change:pin']) {
      safe(() => found.chats.on(event, scheduleChats));
    }
    safe(() => found.chats.on('change:active', () => setTimeout(reportActive, 0)));
  };
  // Deferred: WhatsApp fills a message in after adding it.
  const watchMessages = () => safe(() => found.messages.on('add', (message) => queueMicrotask(() => reportMessage(message))));

  // The core (re)starts and asks for everything.
  port.onmessage = (event) => {
    const request = safe(() => JSON.parse(event.data));
    if (!request || request.v !== VERSION || request.type !== 'hello') return;
    reportStatus();
    if (found.chats) reportChats();
  };

  // ---- waiting for WhatsApp --------------------------------------------------------------------
  // `require` is assigned late and modules keep arriving for seconds: look again whenever the
  // module count changes, often at first and then rarely; stop once both collections are found.
  const look = () => {
    if (typeof window.require !== 'function' || typeof window.__d !== 'function') return false;
    const count = safe(() => Object.keys(window.require('__debug').modulesMap).length, 0);
    if (count === moduleCount) return false;
    moduleCount = count;
    found.lidPn = found.lidPn || exported(load('WAWebApiContact'), 'lidPnCache');
    const byName = findByName();
    const byShape = byName.chats && byName.messages ? byName : findByShape();
    const hadChats = Boolean(found.chats);
    const hadMessages = Boolean(found.messages);
    if (!found.chats && (byName.chats || byShape.chats)) {
      found.chats = byName.chats || byShape.chats;
      found.via = byName.chats ? 'name' : 'scan';
      watchChats();
    }
    if (!found.messages && (byName.messages || byShape.messages)) {
      found.messages = byName.messages || byShape.messages;
      watchMessages();
    }
    if (hadChats !== Boolean(found.chats) || hadMessages !== Boolean(found.messages)) reportStatus();
    if (!hadChats && found.chats) reportChats();
    return Boolean(found.chats && found.messages);
  };

  // The active chat is also polled, in case a build stops firing `change:active`.
  let slowTimer = null;
  const pollActive = () => {
    const chat = safe(() => found.chats.getActive?.() ?? found.chats.findFirst((c) => c.active));
    const id = chat ? wid(safe(() => chat.id)) : null;
    if (id !== activeId) reportActive();
  };
  const tick = () => {
    const elapsed = Date.now() - started;
    const done = look();
    if (found.chats) pollActive();
    if (done && slowTimer === null) {
      slowTimer = setInterval(pollActive, 1000);
      return;
    }
    if (!done) setTimeout(tick, elapsed < 60000 ? 250 : 5000);
  };
  reportStatus();
  tick();
})();
