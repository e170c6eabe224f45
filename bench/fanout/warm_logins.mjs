#!/usr/bin/env node
// Reads every agent's login once (`GET /api/v1/me`, as each extension does when it starts), in a
// process of its own so the harness that measures latency carries none of its garbage or sockets.
//   node warm_logins.mjs SEATS_FILE BASE_URL
import fs from 'node:fs';

const [seatsFile, base] = process.argv.slice(2);
const seats = JSON.parse(fs.readFileSync(seatsFile, 'utf8')).seats;
for (let i = 0; i < seats.length; i += 50) {
  await Promise.all(seats.slice(i, i + 50).map(async (seat) => {
    const r = await fetch(`${base}/api/v1/me`, { headers: { authorization: `Bearer ${seat.token}` } });
    if (!r.ok) throw new Error(`GET /me: ${r.status}`);
    await r.arrayBuffer();
  }));
}
