// Benchmark: does the extension slow WhatsApp Web down? The same workload runs on the fixture
// (300 chats) in a Chromium profile with the extension (logged in, so every row gets a badge)
// and in one without it: bursts of incoming messages that re-order the list, scrolling through
// it, and typing a reply (which takes and renews the reply lock). Long tasks (main thread busy
// ≥ 50 ms) are recorded with a PerformanceObserver, the renderer's script and task time with the
// DevTools protocol (so the MAIN-world bridge counts too), and the overlay reports how long its own
// refreshes took. Also reports the size of the WASM modules.
//
// Usage: node tests/e2e/bench.mjs   (after scripts/build-extension.sh and cargo build -p sync-server)
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { ROOT, SyncServer, launchBrowser, loginThroughPopup, sleep, startFixture, until } from './harness.mjs';

const BURSTS = 5;
const MESSAGES_PER_BURST = 40;

const fixture = await startFixture();
const server = new SyncServer();
const org = server.cli(['admin', 'create-org', '--name', 'Bench', '--timezone', 'UTC']);
server.cli(['admin', 'create-agent', '--org', org, '--name', 'Asha Rao', '--email', 'asha@bench.test', '--role', 'lead', '--password-stdin'], 'bench-password\n');
const base = await server.start();

// Give many chats an owner so rows carry real badges.
const api = await server.api('asha@bench.test', 'bench-password');

const debug = (page) =>
  page.evaluate(() => {
    document.dispatchEvent(new Event('baton:debug'));
    return JSON.parse(document.documentElement.getAttribute('data-baton-debug'));
  });

async function run(withExtension) {
  const browser = await launchBrowser(fixture.port, { extension: withExtension });
  const { context } = browser;
  if (withExtension) await loginThroughPopup(browser, base, 'asha@bench.test', 'bench-password');
  const page = await context.newPage();
  await page.addInitScript(() => {
    window.__longTasks = [];
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) window.__longTasks.push(entry.duration);
    }).observe({ type: 'longtask', buffered: true });
  });
  await page.goto('https://web.whatsapp.com/');
  if (withExtension) {
    await until('badges', () => page.evaluate(() => __baton.qa('[data-baton="owner-badge"]').length > 10));
  }
  await sleep(1000);
  // Start counting after the page and the core have loaded: the workload is what we measure.
  await page.evaluate(() => (window.__longTasks.length = 0));
  // The renderer's own accounting of main-thread time: every script of the page, of the fixture
  // and of the extension (the MAIN-world bridge and the overlay alike).
  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable');
  const mainThread = async () => {
    const { metrics } = await cdp.send('Performance.getMetrics');
    const value = (name) => metrics.find((m) => m.name === name).value * 1000;
    return { scriptMs: value('ScriptDuration'), taskMs: value('TaskDuration') };
  };
  const threadBefore = await mainThread();
  const before = withExtension ? await debug(page) : null;
  const started = Date.now();

  const chats = await page.evaluate(() => __sim.chats());
  await page.evaluate(() => __sim.open(3));
  await sleep(500);
  for (let burst = 0; burst < BURSTS; burst++) {
    for (let k = 0; k < MESSAGES_PER_BURST; k++) {
      fixture.incoming(chats[(burst * 37 + k * 11) % chats.length].i, `burst ${burst} message ${k}`);
    }
    await sleep(400);
    for (let step = 0; step < 10; step++) {
      await page.evaluate(() => __sim.scrollBy(72 * 5));
      await sleep(30);
    }
    await page.evaluate(() => __sim.scroll(0));
  }
  await page.focus('#main [data-lexical-editor]');
  await page.keyboard.type('Thanks for waiting, the documents are ready for you to sign today.', { delay: 15 });
  await page.keyboard.press('Enter');
  await sleep(1500);

  const elapsed = Date.now() - started;
  const threadAfter = await mainThread();
  const longTasks = await page.evaluate(() => window.__longTasks);
  let overlay = null;
  if (withExtension) {
    const after = (await debug(page)).stats;
    // Only the workload: subtract what loading and logging in cost.
    overlay = {
      ...after,
      callbacks: after.callbacks - before.stats.callbacks,
      busy_ms_total: after.busy_ms_total - before.stats.busy_ms_total,
      refreshes: after.refreshes - before.stats.refreshes,
      refresh_ms_total: after.refresh_ms_total - before.stats.refresh_ms_total,
    };
  }
  await context.close();
  return {
    elapsed,
    longTasks: longTasks.length,
    longestTaskMs: Math.round(Math.max(0, ...longTasks)),
    blockingMs: Math.round(longTasks.reduce((sum, d) => sum + Math.max(0, d - 50), 0)),
    scriptMs: Math.round(threadAfter.scriptMs - threadBefore.scriptMs),
    taskMs: Math.round(threadAfter.taskMs - threadBefore.taskMs),
    overlay,
  };
}

// Owners for a third of the chats, locks on a few.
const probe = await launchBrowser(fixture.port, { extension: false });
const probePage = await probe.context.newPage();
await probePage.goto('https://web.whatsapp.com/');
const allChats = await probePage.evaluate(() => __sim.chats());
await probe.context.close();
for (const chat of allChats.filter((c) => c.i % 3 === 0)) {
  await api.call('PUT', `/conversations/${chat.jid.replace('@', '%40')}`, { title: chat.title });
  await api.call('POST', `/conversations/${chat.jid.replace('@', '%40')}/lock`);
}

const without = await run(false);
const withExt = await run(true);
await server.stop();
fixture.close();

const size = (file) => {
  const bytes = fs.readFileSync(path.join(ROOT, file));
  return { raw: bytes.length, gzip: zlib.gzipSync(bytes, { level: 9 }).length };
};
const sizes = {
  overlayWasm: size('extension/dist/overlay/baton_core_bg.wasm'),
  overlayWasm2js: size('extension/dist/overlay/baton_core_bg.wasm.js'),
  overlayGlue: size('extension/dist/overlay/baton_core_bg.js'),
  workerWasm: size('extension/dist/worker/baton_core_bg.wasm'),
};
const stats = withExt.overlay;
const result = {
  workload: `${BURSTS} bursts × ${MESSAGES_PER_BURST} incoming messages with list scrolling, then typing 68 characters and sending, on 300 chats`,
  withoutExtension: without,
  withExtension: {
    ...withExt,
    overlay: stats && {
      callbacks: stats.callbacks,
      busyMsTotal: Number(stats.busy_ms_total.toFixed(1)),
      longestCallbackMs: Number(stats.busy_ms_max.toFixed(1)),
      refreshes: stats.refreshes,
      meanRefreshMs: Number((stats.refresh_ms_total / Math.max(1, stats.refreshes)).toFixed(3)),
      maxRefreshMs: Number(stats.refresh_ms_max.toFixed(3)),
    },
  },
  sizes,
};
console.log(JSON.stringify(result, null, 2));
