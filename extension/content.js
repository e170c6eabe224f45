// The content script's loader: starts Baton's Rust overlay (core-wasm, `overlay` build) in
// WhatsApp Web. WebAssembly compiles in a content script only if the *page's* CSP allows
// 'wasm-unsafe-eval'; otherwise the same core, converted to JavaScript by wasm2js, runs instead.
// If both fail, the service worker is told, and the toolbar badge and popup say so.
// The lead module (the stats panel, and the lead's tools to come) is loaded the same way the
// first time the overlay asks for one of its tools, so it costs the overlay nothing until then.

/** Instantiates the core built into extension/dist/{dir}/; resolves to its glue and how it runs. */
async function loadCore(dir) {
  const url = (file) => chrome.runtime.getURL(`extension/dist/${dir}/${file}`);
  const glue = await import(url('baton_core_bg.js'));
  let exports;
  let mode = 'wasm';
  let wasmError = '';
  try {
    const { instance } = await WebAssembly.instantiateStreaming(fetch(url('baton_core_bg.wasm')), {
      './baton_core_bg.js': glue,
    });
    exports = instance.exports;
  } catch (error) {
    // A CompileError is the page's CSP refusing WebAssembly; anything else, try the twin too.
    wasmError = String(error);
    try {
      exports = await import(url('baton_core_bg.wasm.js'));
    } catch (fallbackError) {
      throw new Error(`WebAssembly failed (${wasmError}) and its JavaScript fallback failed too (${fallbackError})`);
    }
    mode = 'wasm2js';
  }
  glue.__wbg_set_wasm(exports);
  exports.__wbindgen_start?.();
  const sheet = (name) => fetch(url(name)).then((r) => (r.ok ? r.text() : Promise.reject(new Error(`${name}: ${r.status}`))));
  return { glue, mode, sheet };
}

(async () => {
  try {
    const { glue, mode, sheet } = await loadCore('overlay');
    // The overlay's own stylesheets, adopted by its shadow roots (never put on the page).
    const [chatCss, rowsCss] = await Promise.all([sheet('chat.css'), sheet('rows.css')]);
    // The MAIN-world bridge's private port, taken by bridge-port.js at document_start.
    glue.start_overlay(mode, globalThis.batonBridgePort ?? null, chatCss, rowsCss);
    // Shared with the page (as DOM attributes) so tests and support can see how Baton runs.
    document.documentElement.setAttribute('data-baton-mode', mode);
    document.addEventListener('baton:debug', () => {
      document.documentElement.setAttribute('data-baton-debug', JSON.stringify(glue.overlay_debug()));
    });
  } catch (error) {
    const message = `Baton could not start on this page: ${error.message ?? error}.`;
    console.error('[baton]', message);
    document.documentElement.setAttribute('data-baton-mode', 'failed');
    chrome.runtime.sendMessage({ loader_failed: message }).catch(() => {});
    return;
  }
  let lead = null;
  // The overlay names the tool, and for some gives context (the template picker: the chat).
  document.addEventListener('baton:open-tool', (event) => {
    const tool = typeof event.detail === 'string' ? event.detail : String(event.detail?.tool);
    const context = typeof event.detail === 'object' ? event.detail?.context ?? null : null;
    lead ??= loadCore('lead').then(async ({ glue, mode, sheet }) => {
      glue.start_lead(mode, await sheet('lead.css'));
      return glue;
    });
    lead.then((glue) => glue.open_tool(tool, context)).catch((error) => {
      console.error('[baton] the lead tools could not start:', error);
      lead = null;
    });
  });
  // The first responder's seat, loaded the same way, only while responder mode is on (the popup
  // offers it to a responder account; the seat itself refuses to run for a person's login). Loaded
  // once: turning the mode off and on again stops and starts the same core.
  let seat = null;
  let seatOn = false;
  const responderMode = (on) => {
    if (on === seatOn) return;
    seatOn = on;
    if (on) {
      seat ??= loadCore('seat').then(async ({ glue, mode, sheet }) => ({ glue, mode, css: await sheet('seat.css') }));
      seat.then(({ glue, mode, css }) => { if (seatOn) glue.start_seat(mode, css); }).catch((error) => {
        console.error('[baton] the responder could not start:', error);
        seat = null;
        seatOn = false;
      });
    } else if (seat) {
      seat.then(({ glue }) => glue.stop_seat()).catch(() => {});
    }
  };
  chrome.storage.local.get('responderMode').then((stored) => responderMode(stored.responderMode === true));
  chrome.storage.onChanged.addListener((changes, area) => {
    if (area === 'local' && 'responderMode' in changes) responderMode(changes.responderMode.newValue === true);
  });
})();
