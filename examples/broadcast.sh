#!/bin/sh
# broadcast.sh: the main job, on one fresh Debian 12 machine, as root.
#
# Installs what is missing, builds tocsin, makes a throwaway PKI and the
# example repository of every ccTLD (in ./demo), checks it, signs a sample
# Extreme alert to all teams with two issuer keys (the quorum for Extreme to
# all is two), submits it and prints the status of its planned deliveries
# per team.  Everything runs on this machine; nothing leaves it.
set -eu
cd "$(dirname "$0")/.."
src=$(pwd)
sh .ci/install-deps

echo "== build" >&2
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
tocsin=$src/build/gateway/tocsin

demo=${TOCSIN_DEMO_DIR:-$src/demo}
mkdir -p "$demo"
echo "== throwaway PKI in $demo/pki" >&2
sh certs/mkpki.sh "$demo/pki"
echo "== example repository in $demo/repo" >&2
/usr/bin/python3 examples/gen-repo.py --pki "$demo/pki" --out "$demo/repo"
conf=$demo/repo/tocsin.conf

echo "== tocsin check" >&2
"$tocsin" -c "$conf" check | tail -n 3

echo "== sign and submit a sample alert" >&2
now=$(date -u +%Y-%m-%dT%H:%M:%S-00:00)
id="DEMO-$(date -u +%Y%m%d%H%M%S)-$$"
alert=$demo/$id.xml
sed -e "s|<identifier>[^<]*</identifier>|<identifier>$id</identifier>|" \
    -e "s|<sent>[^<]*</sent>|<sent>$now</sent>|" \
    tests/data/alerts/sample-extreme.xml > "$alert"
signers=$demo/pki/signers
for who in desk-1 desk-2; do
	fpr=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["issuers"][sys.argv[2]])' \
	    "$demo/pki/pki.json" "$who")
	gpg --homedir "$signers" --batch --yes --quiet --armor \
	    --local-user "$fpr" --output "$alert.$who.asc" --detach-sign "$alert"
done
alert_id=$("$tocsin" -c "$conf" submit "$alert" \
    --sig "$alert.desk-1.asc" --sig "$alert.desk-2.asc")

echo "== status of alert $alert_id" >&2
"$tocsin" -c "$conf" status "$alert_id"
"$tocsin" -c "$conf" audit verify
