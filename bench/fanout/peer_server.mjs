#!/usr/bin/env node
// The fan-out peers: a plain `ws` broadcast server and a Socket.IO server, broadcasting events
// stamped with the send time to every client of one room. The bench tool runs one per
// measurement, pinned to core 0, and drives it with harness.mjs.
//   node --expose-gc peer_server.mjs --impl ws|socketio
// Prints one JSON line {"ready":true,"pid","url","control"} once listening.
// Control (HTTP, same port): GET /control/stats, POST /control/gc, POST /control/start?rate=&seconds=&room=
// ts = the system monotonic clock in ms, taken just before the broadcast, so latency includes the
// server's own loop over its clients.
import http from 'node:http';
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';

const { values: opt } = parseArgs({ options: { impl: { type: 'string', default: 'ws' } } });
// The system's monotonic clock (CLOCK_MONOTONIC, shared by every process), in ms: wall-clock
// stamps (performance.timeOrigin + now) disagree between processes by milliseconds.
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
const state = { sent: 0, running: false };

const server = http.createServer((req, res) => {
  const u = new URL(req.url, 'http://x');
  const reply = (code, obj) => { res.writeHead(code, { 'content-type': 'application/json' }); res.end(JSON.stringify(obj)); };
  if (u.pathname === '/control/stats') return reply(200, stats());
  if (u.pathname === '/control/gc' && req.method === 'POST') {
    if (global.gc) { global.gc(); global.gc(); }
    return reply(200, stats());
  }
  if (u.pathname === '/control/start' && req.method === 'POST') {
    if (state.running) return reply(409, { error: 'already running' });
    const rate = Number(u.searchParams.get('rate') ?? 50);
    const seconds = Math.min(60, Number(u.searchParams.get('seconds') ?? 20));
    startEmitting(rate, seconds, u.searchParams.get('room') ?? 'bench');
    return reply(200, { planned: Math.round(rate * seconds) });
  }
  reply(404, { error: 'not found' });
});

const rssBytes = () => Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
const stats = () => ({ pid: process.pid, impl: opt.impl, rss_bytes: rssBytes(), sent: state.sent, running: state.running });

let broadcast;
if (opt.impl === 'socketio') {
  const { Server } = await import('socket.io');
  const io = new Server(server, { serveClient: false });
  io.on('connection', (socket) => {
    socket.on('join', (room, ack) => { socket.join(String(room)); if (typeof ack === 'function') ack('ok'); });
  });
  broadcast = (room, ev) => io.to(room).emit('ev', ev);
} else if (opt.impl === 'ws') {
  const { WebSocketServer } = await import('ws');
  const wss = new WebSocketServer({ server, path: '/ws', perMessageDeflate: false });
  const rooms = new Map();
  wss.on('connection', (ws) => {
    let joined = null;
    ws.on('message', (data) => {
      let m; try { m = JSON.parse(data); } catch { return; }
      if (m.type === 'subscribe' && !joined) {
        joined = String(m.room);
        if (!rooms.has(joined)) rooms.set(joined, new Set());
        rooms.get(joined).add(ws);
        ws.send(JSON.stringify({ type: 'subscribed', room: joined }));
      }
    });
    ws.on('close', () => { if (joined) rooms.get(joined)?.delete(ws); });
  });
  broadcast = (room, ev) => {
    const set = rooms.get(room); if (!set) return;
    const frame = Buffer.from(JSON.stringify(ev)); // encoded once, written to every subscriber
    for (const c of set) if (c.readyState === 1) c.send(frame, { binary: false });
  };
} else {
  console.error(`unknown --impl ${opt.impl}`); process.exit(2);
}

function startEmitting(rate, seconds, room) {
  const total = Math.round(rate * seconds), period = 1000 / rate, t0 = performance.now();
  state.running = true; state.sent = 0;
  const tick = () => {
    while (state.sent < total && performance.now() >= t0 + state.sent * period) {
      const seq = state.sent;
      // Shaped like one of Baton's events (a note), so frames weigh about the same.
      broadcast(room, { type: 'event', seq, kind: 'note.created', chat_id: '919000000001@c.us',
        actor: { id: '5b0c0a52-6f2e-4d5a-9d1e-0d6f1f0e8a11', name: 'Asha Rao' }, at: Date.now(),
        data: { id: 'a0c4f1e2-9b7d-4c1e-8f3a-2d5e6f7a8b9c', body: 'note', mentions: [] }, ts: nowMs() });
      state.sent++;
    }
    if (state.sent < total) setTimeout(tick, Math.max(0, t0 + state.sent * period - performance.now()));
    else state.running = false;
  };
  tick();
}

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const url = opt.impl === 'ws' ? `ws://127.0.0.1:${port}/ws` : `http://127.0.0.1:${port}`;
  console.log(JSON.stringify({ ready: true, impl: opt.impl, pid: process.pid, url, control: `http://127.0.0.1:${port}/control` }));
});
const shutdown = () => { server.close(); process.exit(0); };
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
