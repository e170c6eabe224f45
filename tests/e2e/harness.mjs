// Shared machinery for the end-to-end tests and the benchmark: the WhatsApp Web fixture served as
// https://web.whatsapp.com (self-signed certificate, host mapping, marked public so Chromium's
// Local Network Access rules apply as on the real site), a real sync server, and real Chromium
// profiles with the unpacked extension loaded.
import { spawn, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const EXTENSION_ID = 'jgbjgnfajdikapkdoohjnaobmijkgmmj';
const FIXTURE = path.join(ROOT, 'tests/e2e/fixture');
const SERVER_BIN = path.join(ROOT, 'target/debug/sync-server');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns a truthy value; fails with `what` after `timeout` ms. */
export async function until(what, check, timeout = 15000, every = 50) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await check();
      if (last) {
        // A long wait that still succeeded is worth knowing about when reading a CI log.
        const waited = Date.now() - deadline + timeout;
        if (waited > 5000) console.log(`     (waited ${waited} ms for ${what})`);
        return last;
      }
    } catch (error) {
      last = error;
    }
    await sleep(every);
  }
  throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}

export function tempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

// ---- the WhatsApp Web fixture -------------------------------------------------------------------

const CSP = {
  // Close to WhatsApp's own: no inline script or eval, but WebAssembly allowed.
  normal: "default-src 'self'; script-src 'self' 'wasm-unsafe-eval' blob:; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self' wss://*.web.whatsapp.com; worker-src 'self' blob:",
  // The same without 'wasm-unsafe-eval': WebAssembly cannot compile in content scripts.
  strict: "default-src 'self'; script-src 'self' blob:; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self' wss://*.web.whatsapp.com; worker-src 'self' blob:",
};

/** Serves the fixture over HTTPS and relays messages between pages (linked devices). */
export async function startFixture() {
  const dir = tempDir('baton-cert-');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
    '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
    '-subj', '/CN=web.whatsapp.com', '-addext', 'subjectAltName=DNS:web.whatsapp.com',
  ], { stdio: 'ignore' });
  const clients = new Set();
  const broadcast = (message) => {
    const line = `data: ${JSON.stringify(message)}\n\n`;
    for (const client of clients) client.write(line);
  };
  let counter = 0;
  const server = https.createServer(
    { key: fs.readFileSync(path.join(dir, 'key.pem')), cert: fs.readFileSync(path.join(dir, 'cert.pem')) },
    (req, res) => {
      const url = new URL(req.url, 'https://web.whatsapp.com');
      if (url.pathname === '/__sim/events') {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
        res.write(': connected\n\n');
        clients.add(res);
        req.on('close', () => clients.delete(res));
        return;
      }
      if (req.method === 'POST' && url.pathname.startsWith('/__sim/')) {
        let body = '';
        req.on('data', (chunk) => (body += chunk));
        req.on('end', () => {
          const data = JSON.parse(body || '{}');
          if (url.pathname === '/__sim/outgoing') {
            broadcast({ ...data, fromMe: true });
          } else if (url.pathname === '/__sim/incoming') {
            data.id = data.id || `F1X${Date.now().toString(16).toUpperCase()}${(counter++).toString(16).toUpperCase()}`;
            broadcast({ ...data, fromMe: false, t: Date.now(), from: 'customer' });
          }
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ ok: true, id: data.id }));
        });
        return;
      }
      const files = { '/': 'index.html', '/modules.js': 'modules.js', '/whatsapp.js': 'whatsapp.js', '/whatsapp.css': 'whatsapp.css' };
      const file = files[url.pathname];
      if (!file) {
        res.writeHead(404);
        res.end();
        return;
      }
      const types = { html: 'text/html', js: 'text/javascript', css: 'text/css' };
      const headers = { 'content-type': `${types[file.split('.').pop()]}; charset=utf-8` };
      if (file === 'index.html') {
        headers['content-security-policy'] = CSP[url.searchParams.get('csp') === 'strict' ? 'strict' : 'normal'];
      }
      res.writeHead(200, headers);
      res.end(fs.readFileSync(path.join(FIXTURE, file)));
    },
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = server.address().port;
  return {
    port,
    /** A customer writes to chat `i`: every linked page receives it. Returns the message's id and time. */
    incoming(i, text) {
      const id = `F1X${Date.now().toString(16).toUpperCase()}${(counter++).toString(16).toUpperCase()}`;
      const t = Date.now();
      for (const client of clients) client.write(`data: ${JSON.stringify({ i, text, fromMe: false, t, id, from: 'customer' })}\n\n`);
      return { id, t };
    },
    close: () => {
      for (const client of clients) client.end();
      server.close();
    },
  };
}

// ---- the sync server ---------------------------------------------------------------------------

/** A real sync server process on its own SQLite file, restartable on the same file and port. */
export class SyncServer {
  constructor() {
    this.dir = tempDir('baton-server-');
    this.url = `sqlite:${path.join(this.dir, 'baton.db')}`;
    this.port = null;
    this.process = null;
    this.log = [];
  }

  cli(args, input) {
    return execFileSync(SERVER_BIN, [...args, '--database-url', this.url], {
      input,
      encoding: 'utf8',
    }).trim();
  }

  async start() {
    const bind = this.port ? `127.0.0.1:${this.port}` : '127.0.0.1:0';
    this.process = spawn(SERVER_BIN, ['serve', '--bind', bind, '--database-url', this.url, '--log-level', 'warn'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.process.stderr.on('data', (chunk) => this.log.push(chunk.toString()));
    // Never leave a server behind, even when a test run dies half-way.
    const child = this.process;
    process.once('exit', () => child.kill('SIGKILL'));
    const address = await new Promise((resolve, reject) => {
      let buffer = '';
      this.process.stdout.on('data', (chunk) => {
        buffer += chunk.toString();
        const match = buffer.match(/listening on (http:\/\/[0-9.:]+)/);
        if (match) resolve(match[1]);
      });
      this.process.once('exit', (code) => reject(new Error(`sync server exited (${code}): ${this.log.join('')}`)));
    });
    this.base = address;
    this.port = Number(new URL(address).port);
    return address;
  }

  async stop() {
    if (!this.process) return;
    const exited = once(this.process, 'exit');
    this.process.kill('SIGTERM');
    await exited;
    this.process = null;
  }

  /** Logs in over HTTP (for test set-up and checks that bypass the extension). */
  async api(email, password) {
    const base = this.base;
    const login = await fetch(`${base}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password }),
    }).then((r) => r.json());
    const call = async (method, route, body) => {
      const response = await fetch(`${base}/api/v1${route}`, {
        method,
        headers: { authorization: `Bearer ${login.token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : null };
    };
    return { agent: login.agent, token: login.token, call };
  }
}

// ---- browsers ----------------------------------------------------------------------------------

/** A Chromium profile with the extension loaded, as one agent's browser. */
/**
 * Page helpers for tests: Baton's overlay lives in open shadow roots (hooks stay `data-baton`),
 * so `__baton.q` / `__baton.qa` search the document and every open shadow root in it, and
 * `__baton.active()` is the focused element inside them.
 */
const DEEP_QUERY = () => {
  const roots = () => {
    const found = [document];
    for (let i = 0; i < found.length; i += 1) {
      for (const el of found[i].querySelectorAll('*')) if (el.shadowRoot) found.push(el.shadowRoot);
    }
    return found;
  };
  globalThis.__baton = {
    q: (selector) => {
      for (const root of roots()) {
        const hit = root.querySelector(selector);
        if (hit) return hit;
      }
      return null;
    },
    qa: (selector) => roots().flatMap((root) => [...root.querySelectorAll(selector)]),
    active: () => {
      let el = document.activeElement;
      while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
      return el;
    },
  };
};

export async function launchBrowser(fixturePort, { extension = true, extensionPath = ROOT } = {}) {
  const args = [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-dev-shm-usage',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    '--disable-quic',
    `--host-resolver-rules=MAP web.whatsapp.com:443 127.0.0.1:${fixturePort}`,
    '--ignore-certificate-errors',
    // The fixture stands in for the public WhatsApp Web: Chromium must treat it as public, so a
    // content script could not reach a local server (the extension must go through its worker).
    `--ip-address-space-overrides=127.0.0.1:${fixturePort}=public`,
  ];
  if (extension) args.push(`--disable-extensions-except=${extensionPath}`, `--load-extension=${extensionPath}`);
  const context = await chromium.launchPersistentContext(tempDir('baton-profile-'), {
    executablePath: CHROMIUM,
    headless: true,
    ignoreHTTPSErrors: true,
    viewport: { width: 1280, height: 800 },
    args,
  });
  await context.addInitScript(DEEP_QUERY);
  let worker = null;
  if (extension) {
    worker = context.serviceWorkers()[0] || (await context.waitForEvent('serviceworker', { timeout: 15000 }));
  }
  return { context, worker };
}

export const extensionId = (worker) => new URL(worker.url()).host;

/** Logs a browser's extension in through its popup and waits until it is connected. */
export async function loginThroughPopup({ context, worker }, server, email, password) {
  const popup = await context.newPage();
  await popup.goto(`chrome-extension://${extensionId(worker)}/extension/popup.html`);
  await popup.fill('input[name=server]', server);
  await popup.fill('input[name=email]', email);
  await popup.fill('input[name=password]', password);
  await popup.click('#login-button');
  await until('login', () => popup.evaluate(() => document.getElementById('connection').textContent === 'Connected'));
  await popup.close();
}
