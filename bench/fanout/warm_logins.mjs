#!/usr/bin/env node
// Reads every agent's login once (`GET /api/v1/me`, as each extension does when it starts), in a
// process of its own so the harness that measures latency carries none of its garbage or sockets.
// One request at a time: what the server allocates for a request and frees again is then a few
// KiB, not a heap of freed buffers that the connections measured next would reuse and hide.
//   node warm_logins.mjs SEATS_FILE BASE_URL
import fs from 'node:fs';

const [seatsFile, base] = process.argv.slice(2);
const seats = JSON.parse(fs.readFileSync(seatsFile, 'utf8')).seats;
for (const seat of seats) {
  const r = await fetch(`${base}/api/v1/me`, { headers: { authorization: `Bearer ${seat.token}` } });
  if (!r.ok) throw new Error(`GET /me: ${r.status}`);
  await r.arrayBuffer();
}
