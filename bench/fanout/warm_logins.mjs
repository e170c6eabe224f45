#!/usr/bin/env node
// Reads every agent's login once (`GET /api/v1/me`, as each extension does when it starts), in a
// process of its own so the harness that measures latency carries none of its garbage or sockets.
// One request at a time: what the server allocates for a request and frees again is then a few
// KiB, not a heap of freed buffers that the connections measured next would reuse and hide.
// Seat i asks BASE_URLS[i % count], the instance its stream connects to (as the harness spreads
// them).
//   node warm_logins.mjs SEATS_FILE BASE_URLS (comma-separated)
import fs from 'node:fs';

const [seatsFile, baseList] = process.argv.slice(2);
const bases = baseList.split(',');
const seats = JSON.parse(fs.readFileSync(seatsFile, 'utf8')).seats;
for (const [i, seat] of seats.entries()) {
  const base = bases[i % bases.length];
  const r = await fetch(`${base}/api/v1/me`, { headers: { authorization: `Bearer ${seat.token}` } });
  if (!r.ok) throw new Error(`GET /me: ${r.status}`);
  await r.arrayBuffer();
}
