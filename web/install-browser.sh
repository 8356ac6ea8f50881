#!/bin/sh
# install-browser.sh installs what the browser tests need and Debian lacks
# by default: chromium (TestDashboard drives it through playwright-core)
# and fonts-noto-cjk (without a CJK font the dashboard's zh-TW and zh-CN
# pages render as boxes). It says so in one line before it installs, does it
# only as root with apt-get, and otherwise leaves the tests to skip. `make
# test` runs it; e2e/dashboard_e2e_test.go installs the same packages when run
# on its own.
set -u
need=""
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || need="chromium"
dpkg-query -W -f='${Status}' fonts-noto-cjk 2>/dev/null | grep -q 'install ok installed' || need="$need fonts-noto-cjk"
need=${need# }
[ -n "$need" ] || exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "not installing $need for the browser tests (only root with apt-get does): the dashboard's browser tests may skip" >&2
	exit 0
fi
echo "installing Debian's chromium for the browser tests (apt-get install $need)..." >&2
export DEBIAN_FRONTEND=noninteractive
# $need is a list of package names.
# shellcheck disable=SC2086
log=$(mktemp)
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends $need; } >"$log" 2>&1; then
	echo "apt-get install $need failed (the browser tests will say so):" >&2
	tail -n 20 "$log" >&2
fi
rm -f "$log"
exit 0
