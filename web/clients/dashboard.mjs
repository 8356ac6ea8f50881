// Drives Gridhub's web dashboard in a real headless Chromium (Debian's
// /usr/bin/chromium, never a downloaded browser) through playwright-core.
//
//   node dashboard.mjs drive            commands on stdin, answers on stdout
//   node dashboard.mjs shot URL PNG     open URL, wait for the map, screenshot
//
// In drive mode each stdin line is a JSON command and each answer one JSON
// line, {"ok": true, "value": ...} or {"ok": false, "error": "..."}:
//
//   {"do": "open", "url": "..."}                      load a page
//   {"do": "waitFor", "expr": "JS", "timeout": 20000} until the expression is truthy; its value
//   {"do": "eval", "expr": "JS"}                      the expression's value
//   {"do": "click", "selector": "..."}
//   {"do": "hover", "selector": "..."}
//   {"do": "select", "selector": "...", "value": "..."}
//   {"do": "fill", "selector": "...", "value": "..."}
//   {"do": "screenshot", "path": "..."}
//   {"do": "errors"}                                  script errors the page raised
//   {"do": "quit"}
//
// CHROMIUM names another browser binary; DASHBOARD_LOCALE the browser's
// language (en-GB unless set). The browser starts with a new,
// empty profile in a temporary directory, removed at exit.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
// --headless comes from headless: true; the rest keep a browser on a
// machine without a network from reaching out at start.
const flags = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function launch() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'gridhub-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: flags,
    viewport: { width: 1360, height: 860 },
    deviceScaleFactor: 1,
    // The browser's language (navigator.languages, Accept-Language).
    locale: process.env.DASHBOARD_LOCALE || 'en-GB',
    timezoneId: 'Asia/Taipei',
  });
  const page = context.pages()[0] || await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => { errors.push(String(e && e.message || e)); process.stderr.write(`page error: ${e}\n`); });
  page.on('console', (m) => { if (m.type() === 'error') process.stderr.write(`console: ${m.text()}\n`); });
  const close = async () => {
    await context.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  };
  return { page, errors, close };
}

// poll evaluates expr until it is truthy and returns its value. (Playwright's
// waitForFunction compiles a string in the page, which the dashboard's
// Content-Security-Policy rightly forbids; evaluate does not.)
async function poll(page, expr, timeout) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    last = await page.evaluate(expr);
    if (last) return last;
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${expr.replace(/\s+/g, ' ')} (last: ${JSON.stringify(last)})`);
    await page.waitForTimeout(100);
  }
}

async function waitReady(page, timeout) {
  return poll(page, `['ready', 'refused', 'error', 'empty'].includes(document.body.dataset.state) && document.body.dataset.state`, timeout);
}

async function shot(url, png) {
  const b = await launch();
  try {
    await b.page.goto(url, { waitUntil: 'load' });
    const state = await waitReady(b.page, 60000);
    if (state !== 'ready') throw new Error(`the dashboard is ${state}: ${await b.page.evaluate(() => document.getElementById('login-error').textContent || document.getElementById('notice').textContent)}`);
    await b.page.waitForTimeout(1500); // colour transitions
    await b.page.screenshot({ path: png });
    console.log(`saved ${png}`);
  } finally {
    await b.close();
  }
}

async function drive() {
  const b = await launch();
  const { page } = b;
  const rl = readline.createInterface({ input: process.stdin, terminal: false });
  const answer = (v) => process.stdout.write(JSON.stringify(v) + '\n');
  console.log(JSON.stringify({ ok: true, value: 'started' }));
  for await (const line of rl) {
    if (!line.trim()) continue;
    let c;
    try {
      c = JSON.parse(line);
    } catch (e) {
      answer({ ok: false, error: `not JSON: ${e.message}` });
      continue;
    }
    try {
      let value = null;
      switch (c.do) {
        case 'open':
          await page.goto(c.url, { waitUntil: 'load' });
          break;
        case 'waitFor':
          value = await poll(page, c.expr, c.timeout || 20000);
          break;
        case 'eval':
          value = await page.evaluate(c.expr);
          break;
        case 'click':
          await page.click(c.selector, { timeout: c.timeout || 10000 });
          break;
        case 'hover':
          await page.hover(c.selector, { timeout: c.timeout || 10000 });
          break;
        case 'select':
          await page.selectOption(c.selector, c.value, { timeout: c.timeout || 10000 });
          break;
        case 'fill':
          await page.fill(c.selector, c.value, { timeout: c.timeout || 10000 });
          break;
        case 'screenshot':
          await page.screenshot({ path: c.path });
          break;
        case 'errors':
          value = b.errors.slice();
          break;
        case 'quit':
          answer({ ok: true });
          await b.close();
          return;
        default:
          throw new Error(`unknown command ${c.do}`);
      }
      answer({ ok: true, value });
    } catch (e) {
      answer({ ok: false, error: String(e && e.message || e).split('\n')[0] });
    }
  }
  await b.close();
}

const [mode, ...rest] = process.argv.slice(2);
try {
  if (mode === 'shot' && rest.length >= 2) await shot(rest[0], rest[1]);
  else if (mode === 'drive') await drive();
  else {
    console.error('usage: node dashboard.mjs drive | shot URL PNG');
    process.exit(2);
  }
} catch (e) {
  console.error(String(e && e.message || e));
  process.exit(1);
}
