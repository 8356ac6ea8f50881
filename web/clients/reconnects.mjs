// Counts how often the reference graphql-ws client (graphql-transport-ws
// protocol) connects to a hub over a window, for Gridhub's tests of what
// clients do when the hub refuses or drops their token.
//
//   node reconnects.mjs MODE URL TOKEN WINDOW_MS QUERY [VARIABLES_JSON]
//
// TOKEN "-" reads the token from the first line of standard input, after
// the script has loaded and written "ready" on standard error: so that a
// token with a lifetime of seconds starts it when the client is about to
// connect, not while Node.js starts.
// MODE "default" uses the client's default retry options (retryAttempts 5,
// randomised exponential backoff); "fatal-4403" adds shouldRetry that stops
// at 4403, as the hub's dashboard does. It subscribes once, and after
// WINDOW_MS prints one JSON line:
//   {"attempts": N, "acks": N, "closes": [{"code": C, "reason": R}], "error": E}
// where attempts counts the sockets opened (first connection and retries)
// and error is the subscription's terminal error, if any, by then.
import WebSocket from 'ws';
import { createClient } from 'graphql-ws';

const [mode, url, tokenArg, windowArg, query, varsArg] = process.argv.slice(2);
const token = tokenArg === '-' ? await firstLine() : tokenArg;
const variables = varsArg ? JSON.parse(varsArg) : {};
const report = { attempts: 0, acks: 0, closes: [], error: null };

const options = {
  url, webSocketImpl: WebSocket, lazy: true,
  connectionParams: { Authorization: `Bearer ${token}` },
  on: {
    connecting: () => { report.attempts++; },
    connected: () => { report.acks++; },
    closed: (e) => { report.closes.push({ code: e?.code ?? null, reason: e?.reason ?? '' }); },
  },
};
if (mode === 'fatal-4403') options.shouldRetry = (e) => !(e && e.code === 4403);
const client = createClient(options);
client.subscribe({ query, variables }, {
  next: () => {},
  error: (e) => { report.error = e?.code !== undefined ? { code: e.code, reason: e.reason } : String(e?.message ?? e); },
  complete: () => {},
});
setTimeout(() => {
  console.log(JSON.stringify(report));
  process.exit(0);
}, Number(windowArg));

// firstLine announces "ready" and returns the first line of standard input.
function firstLine() {
  return new Promise((resolve, reject) => {
    let buf = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl >= 0) { process.stdin.pause(); resolve(buf.slice(0, nl).trim()); }
    });
    process.stdin.on('error', reject);
    process.stderr.write('ready\n');
  });
}
