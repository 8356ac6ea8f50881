// Command gridhub is the Gridhub server and its operator tools.
//
//	gridhub serve [flags]          run the hub
//	gridhub import [flags] FILE    import pharmacies, committees, ... from CSV or GeoJSON
//	gridhub demo [flags]           seed the demo city and exit
//	gridhub token [flags]          mint an access token
//	gridhub replay [flags]         replay a day of Taiwan's 2020 mask-stock feed
//	gridhub ids [flags]            report ID numbers stored under non-canonical spellings
//	gridhub compact [flags]        rewrite the embedded store without the bytes of deleted records
//
// Configuration comes from flags, each with an environment variable
// (GRIDHUB_ADDR, GRIDHUB_DATA, GRIDHUB_STORE, ...); a flag wins. Exit codes
// follow package cli: 0 done (or help), 1 failure, 2 usage error.
//
// The program itself, its configuration and the composition of a hub, is
// package app; this is its process: arguments, standard streams,
// environment, signals and exit code.
package main

import (
	"os"

	"github.com/gridhub/gridhub/app"
	"github.com/gridhub/gridhub/cli"
)

func main() {
	ctx, stop := app.SignalContext()
	err := app.Run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	if code := cli.Exit("gridhub", err, os.Stderr); code != cli.ExitOK {
		os.Exit(code)
	}
}
