#!/bin/sh
# mkpki.sh: make a throwaway PKI for tests and the demo in the folder DIR.
#
# Never use its keys for anything real: private keys are unprotected.  It
# makes a TLS CA with a server certificate for 127.0.0.1/localhost (and the
# *.tocsin.invalid names of the pinned-address tests), a CA for
# CMS (S/MIME) issuers with one issuer certificate and a rogue one outside it,
# and OpenPGP keys: the gateway's (secret, in tocsin's own GnuPG home) and the
# issuers' (secret in DIR/signers, public in tocsin's home), including an
# expired one, a revoked one and an outsider that is no issuer.  DIR/contacts
# is an empty GnuPG home for contact keys (examples/gen-repo.py fills it).
# A summary of fingerprints and paths is written to DIR/pki.json.
#
# usage: certs/mkpki.sh DIR        (an existing complete DIR is left as is)
set -eu

dir=${1:?usage: mkpki.sh DIR}
if [ -f "$dir/pki.json" ]; then
	echo "mkpki: $dir/pki.json exists; keeping the PKI there" >&2
	exit 0
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
umask 077

days=3650
subj() { printf '/O=tocsin test PKI/CN=%s' "$1"; }

# --- X.509 -----------------------------------------------------------------
ca() {	# name cn
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$dir/$1.key" -out "$dir/$1.pem" -days $days \
	    -subj "$(subj "$2")" \
	    -addext basicConstraints=critical,CA:TRUE \
	    -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
leaf() {	# name cn ca extfile-lines...
	name=$1 cn=$2 issuer=$3
	shift 3
	printf '%s\n' "$@" > "$dir/$name.ext"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$dir/$name.key" -out "$dir/$name.csr" \
	    -subj "$(subj "$cn")" 2>/dev/null
	openssl x509 -req -in "$dir/$name.csr" -CA "$dir/$issuer.pem" \
	    -CAkey "$dir/$issuer.key" -CAcreateserial -days $days \
	    -extfile "$dir/$name.ext" -out "$dir/$name.pem" 2>/dev/null
	rm -f "$dir/$name.csr" "$dir/$name.ext"
}

ca ca "tocsin test CA"
leaf server localhost ca \
    "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth" \
    "subjectAltName=DNS:localhost,IP:127.0.0.1,DNS:sms.tocsin.invalid,DNS:smtp.tocsin.invalid,DNS:drop.tocsin.invalid"
ca issuer-ca "tocsin test issuer CA"
leaf cms-issuer "cms-desk" issuer-ca \
    "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature,nonRepudiation" \
    "extendedKeyUsage=emailProtection"
ca rogue-ca "rogue CA"
leaf rogue-issuer "cms-desk" rogue-ca \
    "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature,nonRepudiation" \
    "extendedKeyUsage=emailProtection"
# The server certificate is read by test peers run as other users too.
chmod 644 "$dir"/*.pem

# --- OpenPGP ---------------------------------------------------------------
mkdir -p -m 700 "$dir/gnupg" "$dir/signers" "$dir/contacts"
g() { home=$1; shift; gpg --homedir "$home" --batch --yes --quiet \
    --pinentry-mode loopback --passphrase '' "$@"; }
fpr_of() {	# home email
	gpg --homedir "$1" --batch --with-colons --list-keys "<$2>" 2>/dev/null |
	    awk -F: '/^fpr:/ { print $10; exit }'
}

g "$dir/gnupg" --quick-gen-key "tocsin gateway <gateway@alerts.example>" \
    ed25519 sign 0 2>/dev/null
for who in desk-1 desk-2 outsider revoked; do
	g "$dir/signers" --quick-gen-key "Issuer $who <$who@desk.example>" \
	    ed25519 sign 0 2>/dev/null
done
# A key that expired in 2021: made and used on a faked clock.
g "$dir/signers" --faked-system-time 20200101T000000 \
    --quick-gen-key "Issuer expired <expired@desk.example>" ed25519 sign 1y \
    2>/dev/null

g "$dir/signers" --export | g "$dir/gnupg" --import 2>/dev/null
# tocsin learns that 'revoked' was revoked; the signer's home does not, so
# tests can still make signatures with it.
rfpr=$(fpr_of "$dir/signers" revoked@desk.example)
sed 's/^:-----/-----/' "$dir/signers/openpgp-revocs.d/$rfpr.rev" |
    g "$dir/gnupg" --import 2>/dev/null

gw=$(fpr_of "$dir/gnupg" gateway@alerts.example)
g "$dir/gnupg" --armor --export "$gw" > "$dir/gateway.asc"
chmod 644 "$dir/gateway.asc"

{
	printf '{\n  "gateway": "%s",\n  "issuers": {\n' "$gw"
	sep=
	for who in desk-1 desk-2 outsider expired revoked; do
		printf '%s    "%s": "%s"' "$sep" "$who" \
		    "$(fpr_of "$dir/signers" "$who@desk.example")"
		sep=',
'
	done
	printf '\n  },\n'
	printf '  "gnupg_home": "gnupg",\n  "signers_home": "signers",\n'
	printf '  "contacts_home": "contacts",\n  "ca": "ca.pem",\n'
	printf '  "server_cert": "server.pem",\n  "server_key": "server.key",\n'
	printf '  "issuer_ca": "issuer-ca.pem",\n  "cms_issuer": "cms-issuer.pem",\n'
	printf '  "cms_issuer_key": "cms-issuer.key",\n'
	printf '  "rogue_issuer": "rogue-issuer.pem",\n'
	printf '  "rogue_issuer_key": "rogue-issuer.key"\n}\n'
} > "$dir/pki.json.tmp"
mv "$dir/pki.json.tmp" "$dir/pki.json"
echo "mkpki: test PKI ready in $dir" >&2
