#!/usr/bin/env node
// A reply-lock holder for the fault tests, in a process of its own so it can be frozen (SIGSTOP)
// and woken (SIGCONT) like a browser tab on a laptop that went to sleep.
//   node frozen_holder.mjs BASE TOKEN CHAT
// Takes the reply lock of CHAT, then every 100 ms renews it and reports an outgoing message under
// the fence it was granted, printing one line per answer: "granted FENCE", "renew STATUS CODE",
// "write STATUS CODE".
const [base, token, chat] = process.argv.slice(2);
const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
const url = (path) => `${base}/api/v1/conversations/${encodeURIComponent(chat)}${path}`;
const answer = async (response) => {
  const body = await response.json().catch(() => ({}));
  return `${response.status} ${body.error ?? '-'}`;
};

const granted = await fetch(url('/lock'), { method: 'POST', headers });
if (granted.status !== 200) {
  console.log(`refused ${await answer(granted)}`);
  process.exit(1);
}
const { fence } = await granted.json();
console.log(`granted ${fence}`);
for (let n = 0; ; n++) {
  try {
    console.log(`renew ${await answer(await fetch(url('/lock'), { method: 'POST', headers }))}`);
    const report = { message_id: `FROZEN${n}`, direction: 'out', fence };
    console.log(`write ${await answer(await fetch(url('/messages'), { method: 'POST', headers, body: JSON.stringify(report) }))}`);
  } catch (err) {
    console.log(`error ${err.message}`);
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
}
