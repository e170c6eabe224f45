#!/usr/bin/env node
// The fan-out harness, one for every server under test: N clients connect and stay idle (the
// server's memory is read before and after), then events flow for S seconds at R per second and
// every (client, event) latency is recorded: receive time minus the event's send stamp, both read
// from the system's monotonic clock, which every process on the machine shares. Prints one JSON
// line.
//   node harness.mjs --impl ws|socketio --url URL --control URL --server-pid PID --clients N --rate R --seconds S
//   node harness.mjs --impl baton --url ws://HOST/api/v1/events[,ws://OTHER/…] --seats FILE --server-pid PID …
// For Baton the events are notes: a child process (notes_trigger.mjs) posts R notes per second to
// one chat, each body stamped with its send time, so a latency covers the HTTP write, the durable
// commit and the delivery to every agent. The seats file holds every agent's token and the chat.
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const { values: o } = parseArgs({
  options: {
    impl: { type: 'string' }, url: { type: 'string' }, control: { type: 'string' }, seats: { type: 'string' },
    base: { type: 'string' }, 'server-pid': { type: 'string' }, clients: { type: 'string', default: '100' },
    rate: { type: 'string', default: '50' }, seconds: { type: 'string', default: '20' },
  },
});
const N = Number(o.clients), RATE = Number(o.rate), SECS = Math.min(60, Number(o.seconds));
// The system's monotonic clock (CLOCK_MONOTONIC, shared by every process), in ms: wall-clock
// stamps (performance.timeOrigin + now) disagree between processes by milliseconds.
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
setTimeout(() => { console.error('harness timeout'); process.exit(3); }, (SECS + 90) * 1000).unref();
const here = path.dirname(fileURLToPath(import.meta.url));
const urls = o.url.split(',');
const seats = o.seats ? JSON.parse(fs.readFileSync(o.seats, 'utf8')) : null;

// --- one adapter per kind of server ------------------------------------------------------------
function openWs(i, onMessage) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(urls[i % urls.length], { perMessageDeflate: false });
    let subscribed = false;
    ws.once('error', reject);
    ws.once('open', () => ws.send(JSON.stringify({ type: 'subscribe', room: 'bench' })));
    ws.on('message', (data) => {
      if (subscribed) return onMessage(data);
      if (JSON.parse(data).type === 'subscribed') { subscribed = true; resolve({ close: () => ws.close() }); }
    });
  });
}
async function openSocketIo(i, onMessage) {
  const { io } = await import('socket.io-client');
  return new Promise((resolve, reject) => {
    const s = io(urls[i % urls.length], { transports: ['websocket'], forceNew: true, reconnection: false, timeout: 10000 });
    s.once('connect_error', reject);
    s.on('ev', (m) => onMessage(m));
    s.once('connect', () => s.emit('join', 'bench', () => resolve({ close: () => s.close() })));
  });
}
function openBaton(i, onMessage) {
  return new Promise((resolve, reject) => {
    const seat = seats.seats[i];
    const ws = new WebSocket(`${urls[i % urls.length]}?since=${seats.since}`, { perMessageDeflate: false,
      headers: { authorization: `Bearer ${seat.token}` } });
    let ready = false;
    ws.once('error', reject);
    ws.on('message', (data) => {
      if (ready) return onMessage(data);
      const m = JSON.parse(data);
      if (m.type === 'ready') { ready = true; resolve({ close: () => ws.close() }); }
    });
  });
}
const stampOf = {
  ws: (data) => { const m = JSON.parse(data); return typeof m.ts === 'number' ? m.ts : null; },
  socketio: (m) => (m && typeof m.ts === 'number' ? m.ts : null),
  // Read straight from the frame's bytes: parsing every ~600-byte event twice (the frame, then the
  // note's body) at 50,000 frames/s kept this one-threaded harness busy enough that its own queue,
  // not the server, set the tail (the peers' frames are a few bytes). The note's body is
  // `{"ts":…,"i":…}`, escaped inside the frame as `{\"ts\":…`.
  baton: (data) => {
    if (data.indexOf('"kind":"note.created"') < 0) return null;
    const at = data.indexOf('\\"ts\\":');
    if (at < 0) return null;
    const ts = parseFloat(data.toString('latin1', at + 7, at + 40));
    return Number.isFinite(ts) ? ts : null;
  },
}[o.impl];
const open = { ws: openWs, socketio: openSocketIo, baton: openBaton }[o.impl];
if (!open) { console.error(`unknown --impl ${o.impl}`); process.exit(2); }

// --- the server's memory and CPU -----------------------------------------------------------------
const pid = Number(o['server-pid']);
const rssKb = () => { try { return Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]); } catch { return NaN; } };
const cpuTicks = () => { try { const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return Number(f[11]) + Number(f[12]); } catch { return NaN; } };
async function settledRss() {
  if (o.control) await fetch(`${o.control}/gc`, { method: 'POST' }).catch(() => null);
  await sleep(500);
  return rssKb();
}

// --- samples -------------------------------------------------------------------------------------
const cap = Math.ceil(N * RATE * SECS * 1.05) + 1000;
const lat = new Float64Array(cap);
let count = 0, measuring = false;
const perClient = new Uint32Array(N);
const handler = (i) => (msg) => {
  const t = nowMs();
  if (!measuring) return;
  const ts = stampOf(msg);
  if (ts === null) return;
  perClient[i]++;
  if (count < cap) lat[count++] = t - ts;
};

// --- connect, idle, then events -----------------------------------------------------------------
// Memory is read cold (before anything) and warm: for Baton, after every agent's login has been
// read once (`GET /me`, as each extension does when it starts), so the warm figure is what holding
// idle connections costs, not a database page cache filling with a thousand logins. The peers
// have no logins: for them both figures are the same. Each agent's login is read on the instance
// its stream then connects to (its extension talks to one server), so with several instances each
// has seen its own agents, as the one instance has seen them all.
const coldRss0 = await settledRss();
if (o.impl === 'baton') {
  const bases = urls.map((u) => u.replace(/^ws/, 'http').replace(/\/api\/v1\/events$/, ''));
  const warm = spawn(process.execPath, [path.join(here, 'warm_logins.mjs'), o.seats, bases.join(',')], { stdio: 'inherit' });
  const code = await new Promise((res) => warm.on('exit', res));
  if (code !== 0) throw new Error(`reading the logins failed (${code})`);
}
const rss0 = await settledRss();
const conns = [];
const tc0 = performance.now();
for (let i = 0; i < N; i += 50) {
  const part = [];
  for (let j = i; j < Math.min(N, i + 50); j++) part.push(open(j, handler(j)));
  conns.push(...(await Promise.all(part)));
}
const connectS = (performance.now() - tc0) / 1000;
await sleep(1500);
const rss1 = await settledRss();

measuring = true;
const harnessCpu0 = process.cpuUsage(), serverTicks0 = cpuTicks(), w0 = performance.now();
let sent = Math.round(RATE * SECS), triggerFailed = 0, writeP50 = null, writeP99 = null;
if (o.impl === 'baton') {
  const trigger = spawn(process.execPath, [path.join(here, 'notes_trigger.mjs')], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, RATE: String(RATE), SECONDS: String(SECS), BATON_URL: o.base, BATON_TOKEN: seats.writer_token, CHAT: seats.chat },
  });
  let out = '';
  trigger.stdout.on('data', (d) => { out += d; });
  await new Promise((res) => trigger.on('exit', res));
  const summary = JSON.parse(out.trim().split('\n').pop());
  sent = summary.sent - summary.failed;
  triggerFailed = summary.failed;
  writeP50 = summary.write_p50_ms;
  writeP99 = summary.write_p99_ms;
} else {
  const r = await fetch(`${o.control}/start?rate=${RATE}&seconds=${SECS}&room=bench`, { method: 'POST' });
  if (!r.ok) throw new Error(`start failed: ${r.status}`);
  await sleep(SECS * 1000);
  for (let k = 0; k < 40; k++) {
    const st = await (await fetch(`${o.control}/stats`)).json();
    if (!st.running) { sent = st.sent; break; }
    await sleep(250);
  }
}
const expected = N * sent;
const drainEnd = performance.now() + 5000;
while (count < expected && performance.now() < drainEnd) await sleep(50);
const wallS = (performance.now() - w0) / 1000;
const harnessCpu = process.cpuUsage(harnessCpu0), serverTicks1 = cpuTicks();
for (const c of conns) c.close();

const sorted = lat.subarray(0, count).sort();
const q = (p) => (count ? sorted[Math.min(count - 1, Math.max(0, Math.ceil((p / 100) * count) - 1))] : null);
console.log(JSON.stringify({
  impl: o.impl, clients: N, rate: RATE, seconds: SECS, instances: urls.length,
  connect_s: connectS, events_sent: sent, writes_failed: triggerFailed, delivered: count, expected,
  delivered_pct: expected ? (100 * count) / expected : 0,
  p50_ms: q(50), p99_ms: q(99), p999_ms: q(99.9), max_ms: count ? sorted[count - 1] : null,
  write_p50_ms: writeP50, write_p99_ms: writeP99,
  clients_missing_events: perClient.reduce((a, v) => a + (v < sent ? 1 : 0), 0),
  // Memory is read on the first instance, which holds its share of the clients.
  bytes_per_conn: ((rss1 - rss0) * 1024) / Math.ceil(N / urls.length),
  bytes_per_conn_cold: ((rss1 - coldRss0) * 1024) / Math.ceil(N / urls.length),
  server_cpu_pct: ((serverTicks1 - serverTicks0) / 100 / wallS) * 100,
  harness_cpu_pct: ((harnessCpu.user + harnessCpu.system) / 1e6 / wallS) * 100,
}));
process.exit(0);
