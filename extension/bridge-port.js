// Baton's receiving end of the MAIN-world bridge (bridge.js), in the isolated world at
// document_start: takes the private MessageChannel port the bridge offers, and keeps it for the
// overlay (content.js), which loads later; reports wait in the port until the overlay listens.
//
// The manifest runs bridge.js first, so the bridge is waiting; asking makes it offer the port
// synchronously, inside this script, before any page script exists. The listener goes at once
// after, so no page script can ever plant a port of its own. If the offer does not come (a
// browser that ran the scripts in another order), Baton runs without the bridge and says so.
(() => {
  const take = (event) => {
    if (globalThis.batonBridgePort || !event.ports || !event.ports[0]) return;
    globalThis.batonBridgePort = event.ports[0];
    // Cancelling tells the bridge, synchronously, that the port is taken.
    event.preventDefault();
  };
  document.addEventListener('baton-bridge-port', take);
  document.dispatchEvent(new CustomEvent('baton-bridge-want'));
  document.removeEventListener('baton-bridge-port', take);
})();
