#!/usr/bin/env bash
# Runs one load the way the figures were measured: builds the hub and the
# load client, starts the hub with the demo city on a fresh data directory,
# runs the load against it from a separate process, and stops the hub.
#
# reserve runs the hub at its defaults, rate limits included: its crowd
# sends from many addresses (-sources), each resident with its own token,
# as a city's residents do. subscribers turns the rate limits off: one
# ADMIN token sends every restock.
#
#   loadtest/run.sh -n 10000 [more flags of "loadtest subscribers"]
#   loadtest/run.sh reserve [flags of "loadtest reserve"]
#
# HUB_BIN=path uses a hub already built, LOADTEST_BIN=path a load client
# already built (each run builds to a path in /tmp otherwise, which
# another checkout's run may overwrite meanwhile); HUB_FLAGS adds flags to the hub
# (for example HUB_FLAGS="--max-in-flight 128"); ADDR (127.0.0.1:18090)
# and DATA (a new temporary directory) may be set too. Outside CI: it
# takes a minute or more.
set -euo pipefail
cd "$(dirname "$0")/.."

cmd=subscribers
case "${1:-}" in
subscribers | reserve)
	cmd=$1
	shift
	;;
esac

ADDR=${ADDR:-127.0.0.1:18090}
DATA=${DATA:-$(mktemp -d /tmp/loaddata.XXXXXX)}
mkdir -p "$DATA"
if [[ -z "${HUB_BIN:-}" ]]; then
	HUB_BIN=/tmp/gridhub
	go build -o "$HUB_BIN" .
fi
if [[ -z "${LOADTEST_BIN:-}" ]]; then
	LOADTEST_BIN=/tmp/gridhub-loadtest
	go build -o "$LOADTEST_BIN" ./loadtest
fi

rate_flags="--rate-per-token 0 --rate-per-address 0"
[[ $cmd == reserve ]] && rate_flags=""

# shellcheck disable=SC2086 # rate_flags and HUB_FLAGS are lists of flags
"$HUB_BIN" serve --demo --addr "$ADDR" --data "$DATA" $rate_flags ${HUB_FLAGS:-} >"$DATA/hub.log" 2>&1 &
hub=$!
trap 'kill "$hub" 2>/dev/null; wait "$hub" 2>/dev/null || true' EXIT

for _ in $(seq 300); do
	curl -sf "http://$ADDR/healthz" >/dev/null && break
	kill -0 "$hub" 2>/dev/null || { cat "$DATA/hub.log"; exit 1; }
	sleep 0.2
done
echo "hub pid $hub on $ADDR, data $DATA, RLIMIT_NOFILE $(awk '/Max open files/ {print $4}' "/proc/$hub/limits"), flags: ${rate_flags:-} ${HUB_FLAGS:-}" >&2

"$LOADTEST_BIN" "$cmd" -url "http://$ADDR" -data "$DATA" -hub-pid "$hub" "$@"
