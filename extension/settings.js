// The options page's loader: starts the settings build of Baton's Rust core, which draws the team's
// settings and talks to the server through the service worker (as the tabs do).
const url = (file) => chrome.runtime.getURL(`extension/dist/settings/${file}`);
try {
  const glue = await import(url('baton_core_bg.js'));
  const { instance } = await WebAssembly.instantiateStreaming(fetch(url('baton_core_bg.wasm')), {
    './baton_core_bg.js': glue,
  });
  glue.__wbg_set_wasm(instance.exports);
  instance.exports.__wbindgen_start?.();
  glue.start_settings();
} catch (error) {
  document.body.textContent = `Baton's settings could not start: ${error}`;
  console.error('[baton]', error);
}
