// Package e2e holds the end-to-end tests of the gridhub program. Each
// starts the real program (app.Run, as main does) on 127.0.0.1:0 with a
// temporary data directory, or in a child process where it is to be
// killed, and talks to it as its clients do: GraphQL over HTTP, WebSocket
// and SSE, the QR images, the exports, the open data and the dashboard in
// a browser. The package has no code of its own.
package e2e
