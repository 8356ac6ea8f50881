// Command loadtest drives a running Gridhub hub from a separate process
// and reports what it measured, each figure beside a baseline taken in the
// same run against the same hub.
//
//	go run ./loadtest subscribers [flags]
//
// subscribers opens many WebSocket connections (graphql-transport-ws),
// each authenticated as a committee and subscribed to its restockAlerts,
// triggers restocks over HTTP at pharmacies spread over the city, and
// reports the alert latency from the stock write to every matching
// subscriber, alerts delivered per second, connections per second, errors
// by kind, and the hub's memory per idle subscriber and CPU at idle.
//
// Load goes only to a hub on this machine (a loopback address); every
// run is bounded by -duration and ends by itself.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

const usage = `usage: go run ./loadtest COMMAND [flags]

commands:
  subscribers   WebSocket subscribers of restockAlerts against a running hub:
                alert latency, fan-out rate, connection rate, memory per
                idle subscriber, CPU at idle

Run "go run ./loadtest COMMAND -h" for a command's flags.
`

// run is main without the process: it parses args and runs a command.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "subscribers":
		return subscribersCommand(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}
