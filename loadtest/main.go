// Command loadtest drives a running Gridhub hub from a separate process
// and reports what it measured, each figure beside a baseline taken in the
// same run against the same hub.
//
//	go run ./loadtest subscribers [flags]
//	go run ./loadtest reserve [flags]
//	go run ./loadtest launchday -dir DIR [flags]
//
// subscribers opens many WebSocket connections (graphql-transport-ws),
// each authenticated as a committee and subscribed to its restockAlerts,
// triggers restocks over HTTP at pharmacies spread over the city, and
// reports the alert latency from the stock write to every matching
// subscriber, alerts delivered per second, connections per second, errors
// by kind, and the hub's memory per idle subscriber and CPU at idle.
//
// reserve sends reserve mutations over HTTP in phases, an open model at a
// rate (a launch-day crowd) or a closed loop (what the hub sustains),
// beside district dashboard queries and stockChanged subscribers, and
// reports acknowledged reservations per second, their latency, refusals
// and errors by code, against baselines of the same run: a raw net/http
// server, the hub's /healthz and a trivial query.
//
// launchday reads the reports of one loadtest/launchday.sh run (every
// row of the launch-day table, each from its own hub) and prints the
// table: each row's figure, its same-run baseline, the ratio, the goal
// and whether it is met.
//
// Load goes only to a hub on this machine (a loopback address); every
// run is bounded by -duration and ends by itself.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/gridhub/gridhub/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if code := cli.Exit("loadtest", err, os.Stderr); code != cli.ExitOK {
		os.Exit(code)
	}
}

const usage = `usage: go run ./loadtest COMMAND [flags]

commands:
  subscribers   WebSocket subscribers of restockAlerts against a running hub:
                alert latency, fan-out rate, connection rate, memory per
                idle subscriber, CPU at idle
  reserve       a burst of reserve mutations over HTTP with dashboards and
                subscribers: throughput, latency, refusals, errors by code,
                ratios to a raw net/http server and a trivial query
  launchday     the table of issue 17's rows from the reports of one
                loadtest/launchday.sh run (-dir): each row beside its
                same-run baseline, its ratio, its goal and whether it is met
  rawhttp       the raw net/http server reserve starts as its baseline

Run "go run ./loadtest COMMAND -h" for a command's flags.
Exit codes: 0 done, 1 failure, 2 usage error.
`

// run is main without the process: it parses args and runs a command.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return cli.Usagef("no command given")
	}
	switch args[0] {
	case "subscribers":
		return subscribersCommand(ctx, args[1:], stdout, stderr)
	case "reserve":
		return reserveCommand(ctx, args[1:], stdout, stderr)
	case "rawhttp":
		return rawHTTPCommand(ctx, args[1:], stdout, stderr)
	case "sink":
		return sinkCommand(ctx, args[1:], stdout, stderr)
	case "launchday":
		return launchDayCommand(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return cli.Usagef("unknown command %q", args[0])
}
