#!/usr/bin/env node
// Posts RATE notes per second for SECONDS to one chat of Baton, each body stamped with its send
// time on the system's monotonic clock (shared with the harness); prints {"sent","failed",
// "write_p50_ms","write_p99_ms"} (each write's round trip).
// Env: RATE SECONDS BATON_URL BATON_TOKEN CHAT.
import http from 'node:http';
import { performance } from 'node:perf_hooks';

const rate = Number(process.env.RATE), secs = Number(process.env.SECONDS);
const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
const u = new URL(process.env.BATON_URL);
let sent = 0, failed = 0;
// Each write's round trip (request to 201), so a fan-out latency can be split into the write and
// the delivery.
const rtts = [];
const t0 = performance.now();
function post(i) {
  return new Promise((resolve) => {
    const ts = Number(process.hrtime.bigint()) / 1e6;
    const body = JSON.stringify({ body: JSON.stringify({ ts, i }) });
    const req = http.request({ host: u.hostname, port: u.port, agent, method: 'POST',
      path: `/api/v1/conversations/${encodeURIComponent(process.env.CHAT)}/notes`,
      headers: { authorization: `Bearer ${process.env.BATON_TOKEN}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        if (res.statusCode !== 201) failed++;
        else rtts.push(Number(process.hrtime.bigint()) / 1e6 - ts);
        resolve();
      });
    req.on('error', () => { failed++; resolve(); });
    req.end(body);
  });
}
const total = rate * secs, inflight = [];
for (let i = 0; i < total; i++) {
  const wait = t0 + (i * 1000) / rate - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  inflight.push(post(i));
  sent++;
}
await Promise.all(inflight);
rtts.sort((a, b) => a - b);
const q = (p) => (rtts.length ? rtts[Math.min(rtts.length - 1, Math.ceil((p / 100) * rtts.length) - 1)] : null);
console.log(JSON.stringify({ sent, failed, write_p50_ms: q(50), write_p99_ms: q(99) }));
