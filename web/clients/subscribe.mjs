// A real GraphQL subscription client for Gridhub's tests: the reference
// graphql-ws client (graphql-transport-ws protocol) or the legacy
// subscriptions-transport-ws client (graphql-ws protocol), on the ws package.
//
//   node subscribe.mjs PROTOCOL URL TOKEN COUNT QUERY [VARIABLES_JSON]
//
// PROTOCOL is "transport" or "legacy". It prints "READY" once the server has
// acknowledged the connection, then each result as one JSON line, and exits
// 0 after COUNT results, 1 on an error, 2 after 20 s without them.
import WebSocket from 'ws';
import { createClient } from 'graphql-ws';
import pkg from 'subscriptions-transport-ws';
const { SubscriptionClient } = pkg;

const [protocol, url, token, countArg, query, varsArg] = process.argv.slice(2);
const want = Number(countArg);
const variables = varsArg ? JSON.parse(varsArg) : {};
let got = 0;
const timer = setTimeout(() => { console.error('timeout'); process.exit(2); }, 20000);

function result(r) {
  console.log(JSON.stringify(r));
  if (r.errors) process.exit(1);
  if (++got >= want) { clearTimeout(timer); process.exit(0); }
}

if (protocol === 'transport') {
  const client = createClient({
    url, webSocketImpl: WebSocket, lazy: false, retryAttempts: 0,
    connectionParams: { Authorization: `Bearer ${token}` },
    on: { connected: () => console.log('READY') },
  });
  client.subscribe({ query, variables }, {
    next: result,
    error: (e) => { console.error('error', JSON.stringify(e?.message ?? e)); process.exit(1); },
    complete: () => {},
  });
} else {
  const client = new SubscriptionClient(url, {
    reconnect: false, lazy: false,
    connectionParams: { Authorization: `Bearer ${token}` },
    connectionCallback: (err) => { if (err) { console.error('error', JSON.stringify(err)); process.exit(1); } console.log('READY'); },
  }, WebSocket);
  client.request({ query, variables }).subscribe({
    next: result,
    error: (e) => { console.error('error', JSON.stringify(e?.message ?? e)); process.exit(1); },
  });
}
