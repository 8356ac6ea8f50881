#!/bin/sh
# Makes the four keys the hubs share, once, as files in deploy/secrets/,
# which compose hands to every hub as secrets (/run/secrets/...): the
# ID-hash secret, the access-token secret, the pickup-code key and the
# health-code signing seed, each 32 random bytes as 64 hex digits. A key
# that exists is kept: a new one would void what the old one made, and
# the hubs would refuse it (the store keeps each key's fingerprint).
#
# Moving from the old shared volume? Put the old keys in these files
# first (deploy/README.md says how), then run this for any missing.
set -eu
dir="$(dirname "$0")/secrets"
mkdir -p "$dir"
# Nobody else on this machine may list or open the keys; inside the
# containers compose bind-mounts each file as it is, so the files are
# readable (0444) by the hub's user there (uid 10001).
chmod 0700 "$dir"
for name in secret jwt-secret pickup-secret codes-ed25519-seed; do
	f="$dir/$name"
	if [ ! -s "$f" ]; then
		(umask 077 && od -An -v -tx1 -N32 /dev/urandom | tr -d ' \n' >"$f.tmp")
		mv "$f.tmp" "$f"
		echo "made $f"
	fi
	chmod 0444 "$f"
done
