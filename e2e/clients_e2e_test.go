package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestRealSubscriptionClients subscribes with the npm reference clients
// of both WebSocket protocols (graphql-ws for graphql-transport-ws, and
// subscriptions-transport-ws for the legacy graphql-ws), triggers a
// restock, and checks that each client receives the alert.
func TestRealSubscriptionClients(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the real-client subscription test needs Node.js (make test installs the clients)")
	}
	if _, err := os.Stat("../web/node_modules/graphql-ws"); err != nil {
		t.Skip("web/node_modules/graphql-ws is missing: run make assets (make test does)")
	}
	h := startHub(t, t.TempDir())
	admin := h.as(t, "ADMIN", "")
	ac := seedAccessCity(t, admin)
	wsURL := "ws" + strings.TrimPrefix(h.url, "http") + "/graphql"
	token := mintToken(t, h.dir, "COMMITTEE", ac.committees[0])
	query := `subscription($c: ID!) { restockAlerts(committeeId: $c) { pharmacy { id } quantity ring } }`
	vars, _ := json.Marshal(map[string]any{"c": ac.committees[0]})

	for i, protocol := range []string{"transport", "legacy"} {
		t.Run(protocol, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, "../web/clients/subscribe.mjs", protocol, wsURL, token, "1", query, string(vars))
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := bufio.NewScanner(out)
			if !lines.Scan() || lines.Text() != "READY" {
				cmd.Wait()
				t.Fatalf("the client did not connect: %q %s", lines.Text(), stderr.String())
			}
			time.Sleep(200 * time.Millisecond) // the subscribe message follows the ack
			must(t, admin, `mutation($p: ID!, $q: Int!) { restock(pharmacyId: $p, sku: MASK_ADULT, quantity: $q) { id } }`,
				map[string]any{"p": ac.pharmacies[0], "q": 10 + i}, nil)
			if !lines.Scan() {
				cmd.Wait()
				t.Fatalf("no alert reached the %s client: %s", protocol, stderr.String())
			}
			var r gqlResponse
			if err := json.Unmarshal([]byte(lines.Text()), &r); err != nil || len(r.Errors) > 0 || !strings.Contains(string(r.Data), ac.pharmacies[0]) {
				t.Errorf("%s client got %s (%v)", protocol, lines.Text(), err)
			}
			if err := cmd.Wait(); err != nil {
				t.Errorf("%s client exited with %v: %s", protocol, err, stderr.String())
			}
		})
	}
}
