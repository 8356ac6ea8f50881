#!/usr/bin/env bash
# Launch day at default settings (issue 17): runs every row of the issue's
# table in one invocation, each load against a fresh hub of its own
# (loadtest/run.sh), then prints one table of every row beside its
# same-run baseline, its ratio, its goal and whether it is met
# ("loadtest launchday"), and writes it as JSON too.
#
#   a  reserve, 512 clients, hub with --max-in-flight 512: best (the reference)
#   b  reserve, 512 clients, hub at defaults: against a
#   c  reserve, 64 clients, hub at defaults: against a, and its p99
#   d  hub CPU per reservation and per trivial query; reserve against the
#      trivial query; the closed crowd on a build of BASE_REV and on this
#      build, alternating (LOAD_PAIRS pairs)
#   e  one restock to N subscribers of one district's stockChanged, shared
#      (defaults) against unshared (--share-subscriptions=false), and the
#      floor: one process writing the same frame once to each of N
#      loopback sockets
#   f  memory per idle subscriber at N, against the hub with none
#
# Knobs (environment):
#   LOAD_ROWS         rows to run (a,b,c,d,e,f)
#   LOAD_PHASE        length of each reserve run's closed phase (15s)
#   LOAD_BASELINE     length of each reserve run's baselines (3s)
#   LOAD_PAIRS        row d's pairs of runs, base then current (2)
#   LOAD_PAIR_FLAGS   hub flags of row d's runs, both builds (--max-in-flight 512)
#   BASE_REV          row d's base revision (2ae442f); BASE_BIN a base hub already built
#   LOAD_SUBSCRIBERS  subscribers of rows e and f (19000 for e, 19500 for f)
#   LOAD_RESTOCKS     row e's restocks, one every 2 s (10)
#   LOAD_SUBS_DURATION  cap on each subscribers run (150s)
#   LOAD_RESERVE_FLAGS, LOAD_SUBS_FLAGS  more flags of every reserve /
#                     subscribers run (e.g. "-idle 3s -settle 1s")
#   LOAD_OUT          directory of the reports (a new one in /tmp)
#   LOAD_JSON         also copy the table's JSON there
#   ADDR              the hubs' address (127.0.0.1:18290)
#   HUB_BIN, LOADTEST_BIN  binaries already built (HUB_REV names the hub's revision)
#
# Outside CI: at the defaults it takes about 8 minutes (7.5 on 2026-12-08) and opens 19,500
# connections; LOAD_SUBSCRIBERS=2000 LOAD_PHASE=5s runs it small.
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${LOAD_ROWS:-a,b,c,d,e,f}
PHASE=${LOAD_PHASE:-15s}
BASELINE=${LOAD_BASELINE:-3s}
PAIRS=${LOAD_PAIRS:-2}
PAIR_FLAGS=${LOAD_PAIR_FLAGS---max-in-flight 512}
BASE_REV=${BASE_REV:-2ae442f}
N_BROADCAST=${LOAD_SUBSCRIBERS:-19000}
N_IDLE=${LOAD_SUBSCRIBERS:-19500}
RESTOCKS=${LOAD_RESTOCKS:-10}
SUBS_DURATION=${LOAD_SUBS_DURATION:-150s}
OUT=${LOAD_OUT:-$(mktemp -d /tmp/launchday.XXXXXX)}
export ADDR=${ADDR:-127.0.0.1:18290}
mkdir -p "$OUT"

has() { [[ ",$ROWS," == *",$1,"* ]]; }
say() { echo "launchday: $*" >&2; }

built=()
worktree=""
cleanup() {
	if [[ -n $worktree ]]; then
		git worktree remove --force "$worktree" >/dev/null 2>&1 || true
		rm -rf "$(dirname "$worktree")"
	fi
	if ((${#built[@]})); then rm -f "${built[@]}"; fi
}
trap cleanup EXIT

if [[ -z ${HUB_BIN:-} ]]; then
	HUB_BIN=$OUT/gridhub
	go build -o "$HUB_BIN" .
	built+=("$HUB_BIN")
	REV=$(git rev-parse --short HEAD)
	[[ -z $(git status --porcelain --untracked-files=no) ]] || REV="$REV-dirty"
else
	REV=${HUB_REV:-$HUB_BIN}
fi
if [[ -z ${LOADTEST_BIN:-} ]]; then
	LOADTEST_BIN=$OUT/loadtest
	go build -o "$LOADTEST_BIN" ./loadtest
	built+=("$LOADTEST_BIN")
fi
say "reports in $OUT; hub $REV on $ADDR; rows $ROWS"

# run NAME HUB "HUB FLAGS" COMMAND [FLAGS]: one load against a fresh hub
# on a fresh data directory; its report goes to NAME.json, its output to
# NAME.txt and NAME.log, and why it failed, if it did, to NAME.err.
run() {
	local name=$1 bin=$2 flags=$3
	shift 3
	local data=$OUT/data-$name
	rm -f "$OUT/$name.err" "$OUT/$name.json"
	say "$name: $* (hub flags: ${flags:-none}; load average $(cut -d' ' -f1-3 /proc/loadavg))"
	if HUB_BIN=$bin LOADTEST_BIN=$LOADTEST_BIN HUB_FLAGS=$flags DATA=$data \
		loadtest/run.sh "$@" -json "$OUT/$name.json" >"$OUT/$name.txt" 2>"$OUT/$name.log"; then
		:
	else
		echo "exit $?: $(tail -n 3 "$OUT/$name.log" | tr '\n' ' ')" >"$OUT/$name.err"
		say "$name failed: $(cat "$OUT/$name.err")"
	fi
	[[ -f $data/hub.log ]] && cp "$data/hub.log" "$OUT/$name.hub.log"
	rm -rf "$data"
}

# shellcheck disable=SC2206 # the knobs are lists of flags
reserve=(reserve -phases "max:$PHASE" -dashboard-rate 0 -report-rate 0 -subscribers 0
	-baseline "$BASELINE" -raw-baseline=false ${LOAD_RESERVE_FLAGS:-})
# shellcheck disable=SC2206
subscribers=(subscribers -duration "$SUBS_DURATION" ${LOAD_SUBS_FLAGS:-})

has a && run a "$HUB_BIN" "--max-in-flight 512" "${reserve[@]}" -concurrency 512
has b && run b "$HUB_BIN" "" "${reserve[@]}" -concurrency 512
has c && run c "$HUB_BIN" "" "${reserve[@]}" -concurrency 64

BASE_LABEL=$BASE_REV
if has d; then
	BASE_LABEL=$(git rev-parse --short "$BASE_REV" 2>/dev/null || echo "$BASE_REV")
	base_err=""
	if [[ -z ${BASE_BIN:-} ]]; then
		BASE_BIN=$OUT/gridhub-base
		tmp=$(mktemp -d /tmp/launchday-base.XXXXXX)
		worktree=$tmp/src
		say "building the base hub from $BASE_REV in a detached worktree $worktree"
		if git worktree add --detach "$worktree" "$BASE_REV" >"$OUT/base-build.log" 2>&1 &&
			(cd "$worktree" && go build -o "$BASE_BIN" .) >>"$OUT/base-build.log" 2>&1; then
			built+=("$BASE_BIN")
		else
			base_err="the base build of $BASE_REV failed: $(tail -n 3 "$OUT/base-build.log" | tr '\n' ' ')"
			say "$base_err"
		fi
		git worktree remove --force "$worktree" >/dev/null 2>&1 || true
		rm -rf "$tmp"
		worktree=""
	fi
	for k in $(seq "$PAIRS"); do
		if [[ -z $base_err ]]; then
			run "d-base-$k" "$BASE_BIN" "$PAIR_FLAGS" "${reserve[@]}" -concurrency 512
		else
			echo "$base_err" >"$OUT/d-base-$k.err"
		fi
		run "d-cur-$k" "$HUB_BIN" "$PAIR_FLAGS" "${reserve[@]}" -concurrency 512
	done
fi

if has e; then
	broadcast=("${subscribers[@]}" -n "$N_BROADCAST" -query stockChanged -restocks "$RESTOCKS" -restock-rate 0.5 -burst-restocks 0)
	run e-shared "$HUB_BIN" "" "${broadcast[@]}" -floor -floor-rounds "$RESTOCKS"
	run e-unshared "$HUB_BIN" "--share-subscriptions=false" "${broadcast[@]}"
fi
has f && run f "$HUB_BIN" "" "${subscribers[@]}" -n "$N_IDLE" -restocks 0 -burst-restocks 0

say "done; load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$LOADTEST_BIN" launchday -dir "$OUT" -rev "$REV" -base-rev "$BASE_LABEL" -rows "$ROWS" -pairs "$PAIRS" -json "$OUT/launchday.json"
[[ -z ${LOAD_JSON:-} ]] || cp "$OUT/launchday.json" "$LOAD_JSON"
say "table as JSON: $OUT/launchday.json; each run's report and log: $OUT"
