// The content script's loader: starts Baton's Rust overlay (core-wasm, `overlay` build) in
// WhatsApp Web. WebAssembly compiles in a content script only if the *page's* CSP allows
// 'wasm-unsafe-eval'; otherwise the same core, converted to JavaScript by wasm2js, runs instead.
// If both fail, the service worker is told, and the toolbar badge and popup say so.
(async () => {
  const url = (file) => chrome.runtime.getURL(`extension/dist/overlay/${file}`);
  let wasmError = '';
  try {
    // The overlay's own stylesheets, adopted by its shadow roots (never put on the page).
    const sheet = (name) => fetch(url(name)).then((r) => (r.ok ? r.text() : Promise.reject(new Error(`${name}: ${r.status}`))));
    const styles = Promise.all([sheet('chat.css'), sheet('rows.css')]);
    const glue = await import(url('baton_core_bg.js'));
    let exports;
    let mode = 'wasm';
    try {
      const { instance } = await WebAssembly.instantiateStreaming(fetch(url('baton_core_bg.wasm')), {
        './baton_core_bg.js': glue,
      });
      exports = instance.exports;
    } catch (error) {
      // A CompileError is the page's CSP refusing WebAssembly; anything else, try the twin too.
      wasmError = String(error);
      exports = await import(url('baton_core_bg.wasm.js'));
      mode = 'wasm2js';
    }
    glue.__wbg_set_wasm(exports);
    exports.__wbindgen_start?.();
    // The MAIN-world bridge's private port, taken by bridge-port.js at document_start.
    const [chatCss, rowsCss] = await styles;
    glue.start_overlay(mode, globalThis.batonBridgePort ?? null, chatCss, rowsCss);
    // Shared with the page (as DOM attributes) so tests and support can see how Baton runs.
    document.documentElement.setAttribute('data-baton-mode', mode);
    document.addEventListener('baton:debug', () => {
      document.documentElement.setAttribute('data-baton-debug', JSON.stringify(glue.overlay_debug()));
    });
  } catch (error) {
    const message =
      `Baton could not start on this page: WebAssembly failed (${wasmError || 'not tried'}) ` +
      `and its JavaScript fallback failed too (${error}).`;
    console.error('[baton]', message);
    document.documentElement.setAttribute('data-baton-mode', 'failed');
    chrome.runtime.sendMessage({ loader_failed: message }).catch(() => {});
  }
})();
