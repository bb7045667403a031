#!/bin/sh
# broadcast.sh: the main job, on one fresh Debian 12 machine, as root.
#
# Installs what is missing, builds tocsin, makes a throwaway PKI and the
# example repository of every ccTLD (in ./demo), starts a local SMTP server
# with STARTTLS (tests/peers/smtp_peer.py on Debian's python3-aiosmtpd),
# checks the repository, signs a sample Extreme alert to all teams with two
# issuer keys (the quorum for Extreme to all is two), submits it, serves
# until nothing is left to do, and prints what happened per team.  A local
# Twilio-compatible provider (tests/peers/sms_provider.py) takes the SMS.
# Ten island teams have the fax_first policy: they also get a fax, as an
# e-mail with a PDF to the fax-to-email gateway address (RFC 3192).
# Five teams with poor connectivity have the offline policy: instead of the
# SMS, the alert lands in their folder on a local SSH drop host (a real
# OpenSSH sshd on a loopback port, tests/integration/sshpeer.py).
# Every message the server received is kept in ./demo/mail.  Everything runs on
# this machine; nothing leaves it.
set -eu
cd "$(dirname "$0")/.."

# wait_ready FILE PID WHAT: wait (10 s at most) for a peer's ready file.
wait_ready() {
	i=0
	while [ ! -s "$1" ]; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! kill -0 "$2" 2>/dev/null; then
			echo "the $3 did not start; see its log in $demo" >&2
			exit 69
		fi
		sleep 0.1
	done
}
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
echo "== local SMTP server with STARTTLS, storing in $demo/mail" >&2
rm -rf "$demo/mail" "$demo/smtp.ready"
/usr/bin/python3 tests/peers/smtp_peer.py --port 0 \
    --ready-file "$demo/smtp.ready" --cert "$demo/pki/server.pem" \
    --key "$demo/pki/server.key" --out "$demo/mail" \
    >"$demo/smtp.out" 2>"$demo/smtp.log" &
peer=$!
trap 'kill $peer 2>/dev/null || true' EXIT INT TERM
wait_ready "$demo/smtp.ready" $peer "SMTP server"
port=$(cat "$demo/smtp.ready")

echo "== local SMS and voice provider (Twilio-compatible, HTTPS)" >&2
# A fresh throwaway account and token for this run; tocsin reads the token
# from a 0600 file that gen-repo writes.
account=AC$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
rm -f "$demo/sms.ready" "$demo/sms.requests"
/usr/bin/python3 tests/peers/sms_provider.py --port 0 \
    --ready-file "$demo/sms.ready" --cert "$demo/pki/server.pem" \
    --key "$demo/pki/server.key" --account "$account:$token" \
    --log "$demo/sms.requests" >"$demo/sms.out" 2>"$demo/sms.log" &
sms=$!
trap 'kill $peer $sms 2>/dev/null || true' EXIT INT TERM
wait_ready "$demo/sms.ready" $sms "SMS provider"
sms_port=$(cat "$demo/sms.ready")

echo "== local SSH drop host (OpenSSH sshd on a loopback port, SFTP)" >&2
# A throwaway host key and client key, made by the peer in $demo/sshd.
rm -rf "$demo/sshd" "$demo/sshd.ready"
/usr/bin/python3 tests/integration/sshpeer.py --dir "$demo/sshd" \
    --ready-file "$demo/sshd.ready" >"$demo/sshd.out" 2>"$demo/sshd.log" &
drop=$!
# the drop host stops its sshd on SIGTERM: wait for it to be done
trap 'kill $peer $sms $drop 2>/dev/null || true; wait $drop 2>/dev/null || true' EXIT INT TERM
wait_ready "$demo/sshd.ready" $drop "SSH drop host"
# drop_info KEY: a value from the drop host's ready file
drop_info() {
	/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
	    "$demo/sshd.ready" "$1"
}
drop_root=$(drop_info root)

echo "== example repository in $demo/repo (SMTP on 127.0.0.1:$port)" >&2
# a free port for serve's listener (delivery receipts)
listen_port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
/usr/bin/python3 examples/gen-repo.py --pki "$demo/pki" --out "$demo/repo" \
    --smtp-port "$port" --sms-port "$sms_port" --sms-account "$account" \
    --sms-token "$token" --listen-port "$listen_port" \
    --fax-first aq,fk,gs,io,ki,nu,pn,sh,tk,tv \
    --drop-teams er,td,cf,ss,so --drop-port "$(drop_info port)" \
    --drop-user "$(drop_info user)" --drop-key "$(drop_info client_key)" \
    --drop-fingerprint "$(drop_info fingerprint)" --drop-path "$drop_root"
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

echo "== serve until every delivery it can make is made" >&2
"$tocsin" -c "$conf" serve --until-idle

echo "== status of alert $alert_id" >&2
"$tocsin" -c "$conf" status "$alert_id"
"$tocsin" -c "$conf" audit verify
n=$(grep -L '^Content-Type: application/pdf' "$demo"/mail/*.eml 2>/dev/null | grep -c '\.eml$' || true)
echo "the local SMTP server received $n encrypted messages; they are in $demo/mail"
n=$(grep -l '^Content-Type: application/pdf' "$demo"/mail/*.eml 2>/dev/null | grep -c '\.eml$' || true)
echo "and $n faxes (FAX=+number@fax.example, a PDF each) for the islands"
n=$(grep -c '"status": 20[12]' "$demo/sms.requests" 2>/dev/null || true)
echo "the local SMS provider accepted $n messages; its log is $demo/sms.requests"
n=$(find "$drop_root" -type f -name '*.sha256' | wc -l)
echo "the SSH drop host received $n drops in $drop_root"
