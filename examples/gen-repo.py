#!/usr/bin/python3
"""gen-repo.py: a synthetic but realistic tocsin contact repository.

One team per ISO 3166-1 country code (the ccTLD community: about 250 teams),
1 to 4 contacts each with every repository attribute of the ccNSO incident-
response list, substitutes, time zones, business hours, languages and
names in many scripts.  Domains are under the reserved .example TLD and
phone numbers follow a fictional 555-01xx pattern after the real country
calling code.  Every contact gets an OpenPGP key, made in one gpg run.

usage: gen-repo.py --pki PKIDIR --out OUTDIR [--teams N] [--seed S] [--idn]
                   [--smtp-port P] [--sms-port P] [--sms-account SID]
                   [--sms-token TOKEN] [--listen-port P] [--only ke,br,...]
                   [--fax-first aq,fk,...]
                   [--drop-teams er,td,... --drop-port P --drop-key KEY
                    --drop-fingerprint SHA256:... --drop-path DIR
                    [--drop-user USER]]

PKIDIR comes from certs/mkpki.sh.  Writes OUTDIR/tocsin.conf (the main
file) and OUTDIR/teams.conf (the repository it includes).  The country
list and zones are read from Debian's tzdata (/usr/share/zoneinfo).

--idn adds the internationalised ccTLDs (xn--p1ai, ...) as teams of their
own, after the ASCII ones (about 300 teams in all).

--drop-teams names teams with poor connectivity: they get the "offline"
policy (e-mail and an SSH drop at once) and a drop folder on the SSH drop
host "sat-hub" on 127.0.0.1:P (providers.sshdrop; the --drop-* values come
from the peer's ready file, tests/integration/sshpeer.py).  Without any
--drop-* option the output is what it always was.

--modem DEVICE adds a GSM modem on that serial device to providers.sms as
the last resort (kind "modem", fallback = true, 1 message a second), for
drills of the internet down and for the modem emulator
(tests/peers/gsm_modem.py).
"""
import argparse
import json
import os
import pwd
import random
import subprocess
import sys
import time
import unicodedata
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ZI = Path("/usr/share/zoneinfo")

# ITU calling codes; countries sharing +1 and +7 included.  Unknown: +999.
CALLING = dict(x.split(":") for x in """
AD:376 AE:971 AF:93 AG:1268 AI:1264 AL:355 AM:374 AO:244 AQ:672 AR:54 AS:1684
AT:43 AU:61 AW:297 AX:358 AZ:994 BA:387 BB:1246 BD:880 BE:32 BF:226 BG:359
BH:973 BI:257 BJ:229 BL:590 BM:1441 BN:673 BO:591 BQ:599 BR:55 BS:1242 BT:975
BW:267 BY:375 BZ:501 CA:1 CC:61 CD:243 CF:236 CG:242 CH:41 CI:225 CK:682 CL:56
CM:237 CN:86 CO:57 CR:506 CU:53 CV:238 CW:599 CX:61 CY:357 CZ:420 DE:49 DJ:253
DK:45 DM:1767 DO:1809 DZ:213 EC:593 EE:372 EG:20 EH:212 ER:291 ES:34 ET:251
FI:358 FJ:679 FK:500 FM:691 FO:298 FR:33 GA:241 GB:44 GD:1473 GE:995 GF:594
GG:44 GH:233 GI:350 GL:299 GM:220 GN:224 GP:590 GQ:240 GR:30 GS:500 GT:502
GU:1671 GW:245 GY:592 HK:852 HN:504 HR:385 HT:509 HU:36 ID:62 IE:353 IL:972
IM:44 IN:91 IO:246 IQ:964 IR:98 IS:354 IT:39 JE:44 JM:1876 JO:962 JP:81 KE:254
KG:996 KH:855 KI:686 KM:269 KN:1869 KP:850 KR:82 KW:965 KY:1345 KZ:7 LA:856
LB:961 LC:1758 LI:423 LK:94 LR:231 LS:266 LT:370 LU:352 LV:371 LY:218 MA:212
MC:377 MD:373 ME:382 MF:590 MG:261 MH:692 MK:389 ML:223 MM:95 MN:976 MO:853
MP:1670 MQ:596 MR:222 MS:1664 MT:356 MU:230 MV:960 MW:265 MX:52 MY:60 MZ:258
NA:264 NC:687 NE:227 NF:672 NG:234 NI:505 NL:31 NO:47 NP:977 NR:674 NU:683
NZ:64 OM:968 PA:507 PE:51 PF:689 PG:675 PH:63 PK:92 PL:48 PM:508 PN:64 PR:1787
PS:970 PT:351 PW:680 PY:595 QA:974 RE:262 RO:40 RS:381 RU:7 RW:250 SA:966
SB:677 SC:248 SD:249 SE:46 SG:65 SH:290 SI:386 SJ:47 SK:421 SL:232 SM:378
SN:221 SO:252 SR:597 SS:211 ST:239 SV:503 SX:1721 SY:963 SZ:268 TC:1649 TD:235
TF:262 TG:228 TH:66 TJ:992 TK:690 TL:670 TM:993 TN:216 TO:676 TR:90 TT:1868
TV:688 TW:886 TZ:255 UA:380 UG:256 UM:1 US:1 UY:598 UZ:998 VA:39 VC:1784
VE:58 VG:1284 VI:1340 VN:84 VU:678 WF:681 WS:685 YE:967 YT:262 ZA:27 ZM:260
ZW:263
""".split())

SOUTH_AMERICA = set("AR BO BR CL CO EC FK GF GY PY PE SR UY VE GS".split())
ATLANTIC = {"IS": "EU", "FO": "EU", "BM": "NA", "CV": "AF", "SH": "AF",
            "FK": "SA", "GS": "SA", "PT": "EU", "ES": "EU"}
INDIAN = {"MV": "AS", "IO": "AS", "CX": "OC", "CC": "OC", "TF": "AN"}

LANGS = {
    "fr": "FR BE CH LU MC SN CI ML BF NE TG BJ GA CG CD CM MG HT RE GP MQ GF "
          "PF NC PM WF YT BL MF DJ KM TD CF GN BI RW SC VU",
    "es": "ES MX AR CO PE VE CL EC GT CU BO DO HN PY SV NI CR PA UY PR GQ",
    "ar": "SA AE EG DZ MA TN LY IQ JO LB SY YE OM KW QA BH SD MR PS EH",
    "ru": "RU BY KZ KG TJ",
    "zh": "CN TW HK MO SG",
    "pt": "PT BR AO MZ CV GW ST TL",
    "de": "DE AT LI",
    "nl": "NL SR AW CW SX BQ",
    "it": "IT SM VA",
    "ja": "JP", "ko": "KR KP", "tr": "TR", "fa": "IR AF", "uk": "UA",
    "hi": "IN", "bn": "BD", "th": "TH", "vi": "VN", "id": "ID",
    "el": "GR CY", "he": "IL", "pl": "PL", "sw": "KE TZ UG",
}
COUNTRY_LANGS = {}
for lang, codes in LANGS.items():
    for c in codes.split():
        COUNTRY_LANGS.setdefault(c, []).append(lang)

NAMES = {
    "AF": (["Amani", "Kwame", "Fatou", "Chidi", "Zanele", "Youssef", "Aïcha",
            "Tendai", "Nia", "Moussa"],
           ["Otieno", "Mensah", "Diallo", "Okafor", "Dlamini", "Benali",
            "Traoré", "Moyo", "Kamau", "Ndiaye"]),
    "EU": (["José", "Anna", "Lars", "Zoë", "Olga", "Pierre", "Søren",
            "Małgorzata", "Jürgen", "Ivana"],
           ["Müller", "García", "Rossi", "Nielsen", "Dubois", "Nowak",
            "Horváth", "Østergaard", "Ivanova", "Papadopoulos"]),
    "AS": (["Wei", "Aiko", "Nguyễn Văn", "Priya", "Min-jun", "Olzhas",
            "Farhad", "Siti", "Arjun", "Mei"],
           ["Zhang", "Sato", "An", "Sharma", "Kim", "Nurlanov", "Rahimi",
            "Rahman", "Tan", "Wong"]),
    "NA": (["Emily", "Carlos", "Aaliyah", "Jean-Luc", "Marisol", "Tyrone",
            "Chloé", "Diego"],
           ["Smith", "Hernández", "Johnson", "Tremblay", "Baptiste", "Brown",
            "Campbell", "López"]),
    "SA": (["João", "María", "Luis", "Camila", "Thiago", "Valentina"],
           ["Silva", "González", "Pereira", "Rodríguez", "Souza", "Fernández"]),
    "OC": (["Mele", "Tama", "Olivia", "Liam", "Losa", "Noah"],
           ["Tupou", "Fonoti", "Wilson", "Taylor", "Ioane", "Nguyen"]),
    "AN": (["Erik", "Sofía"], ["Larsen", "Moreno"]),
}
SCRIPT_NAMES = {"ru": ("Олег", "Иванов"), "ar": ("محمد", "علي"),
                "zh": ("王", "伟"), "el": ("Γιώργος", "Παπαδάκης"),
                "ja": ("佐藤", "花子"), "hi": ("अर्जुन", "शर्मा")}
ROLES = ["Incident response lead", "CSIRT duty officer", "DNS operations "
         "manager", "Security officer", "Technical director", "Registry CTO"]
MESSENGERS = ["signal", "matrix", "threema", "whatsapp"]
OTHER = ["satellite phone +8816 5550 1234", "HF radio 7.110 MHz",
         "VHF marine channel 16 relay via coast station",
         "BGAN terminal at the registry's data centre"]


def esc(s):
    return s.replace("\\", "\\\\").replace('"', '\\"')


def ascii_fold(s):
    return "".join(c for c in unicodedata.normalize("NFKD", s)
                   if c.isascii() and (c.isalnum() or c in "-")).lower()


def countries():
    names = {}
    for line in (ZI / "iso3166.tab").read_text().splitlines():
        if line and not line.startswith("#"):
            code, name = line.split("\t")[:2]
            names[code] = name
    zones = {}
    for line in (ZI / "zone.tab").read_text().splitlines():
        if line and not line.startswith("#"):
            f = line.split("\t")
            zones.setdefault(f[0], f[2])
    return [(c, names[c], zones.get(c, "Etc/UTC")) for c in sorted(names)]


def region(code, tz):
    cont = tz.split("/")[0]
    if code in SOUTH_AMERICA:
        return "SA"
    return {"Africa": "AF", "Europe": "EU", "Asia": "AS", "Australia": "OC",
            "Pacific": "OC", "Antarctica": "AN", "America": "NA",
            "Atlantic": ATLANTIC.get(code, "AF"),
            "Indian": INDIAN.get(code, "AF")}.get(cont, "EU")


def business_hours(tz):
    try:
        off = ZoneInfo(tz).utcoffset(datetime(2026, 1, 15, 12))
        mins = int(off.total_seconds() // 60)
    except Exception:
        mins = 0
    s, e = (8 * 60 - mins) % 1440, (17 * 60 - mins) % 1440
    return f"{s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d}"


def phone(cc, n, rng):
    # national part: a fictional 555-01xx style line, 8..15 digits in all
    digits = f"555{rng.randint(0, 99):02d}{n:04d}"
    total = cc + digits
    return "+" + total[:15]


def order_for_small_sets(items, rng):
    """Interleave regions so that the first N teams cover every region."""
    by = {}
    for it in items:
        by.setdefault(it["region"], []).append(it)
    out = []
    while any(by.values()):
        for r in sorted(by):
            if by[r]:
                out.append(by[r].pop(0))
    return out


# Internationalised ccTLDs (their A-labels) and the country of each: with
# --idn they are teams of their own after the ASCII ones, as the registries
# that run them often have a response team of their own.
IDN_CCTLDS = [
    ("xn--p1ai", "RU"), ("xn--90ais", "BY"), ("xn--fiqs8s", "CN"),
    ("xn--fiqz9s", "CN"), ("xn--j6w193g", "HK"), ("xn--kprw13d", "TW"),
    ("xn--kpry57d", "TW"), ("xn--3e0b707e", "KR"), ("xn--wgbh1c", "EG"),
    ("xn--mgbaam7a8h", "AE"), ("xn--mgberp4a5d4ar", "SA"),
    ("xn--mgbayh7gpa", "JO"), ("xn--ygbi2ammx", "PS"), ("xn--mgbtx2b", "IQ"),
    ("xn--mgba3a4f16a", "IR"), ("xn--mgbc0a9azcg", "MA"),
    ("xn--lgbbat1ad8j", "DZ"), ("xn--pgbs0dh", "TN"), ("xn--mgbx4cd0ab", "MY"),
    ("xn--wgbl6a", "QA"), ("xn--mgb9awbf", "OM"), ("xn--fzc2c9e2c", "LK"),
    ("xn--xkc2al3hye2a", "LK"), ("xn--h2brj9c", "IN"), ("xn--gecrj9c", "IN"),
    ("xn--s9brj9c", "IN"), ("xn--45brj9c", "IN"), ("xn--xkc2dl3a5ee0h", "IN"),
    ("xn--fpcrj9c3d", "IN"), ("xn--mgbbh1a71e", "IN"), ("xn--2scrj9c", "IN"),
    ("xn--rvc1e0am3e", "IN"), ("xn--3hcrj9c", "IN"), ("xn--h2breg3eve", "IN"),
    ("xn--h2brj9c8c", "IN"), ("xn--mgbbh1a", "IN"), ("xn--45br5cyl", "IN"),
    ("xn--54b7fta0cc", "BD"), ("xn--o3cw4h", "TH"),
    ("xn--clchc0ea0b2g2a9gcd", "SG"), ("xn--yfro4i67o", "SG"),
    ("xn--mgbai9azgqp6j", "PK"), ("xn--j1amh", "UA"), ("xn--90a3ac", "RS"),
    ("xn--d1alf", "MK"), ("xn--node", "GE"), ("xn--y9a3aq", "AM"),
    ("xn--80ao21a", "KZ"), ("xn--l1acc", "MN"), ("xn--qxam", "GR"),
    ("xn--mix891f", "MO"), ("xn--mgbpl2fh", "SD"), ("xn--ogbpf8fl", "SY"),
    ("xn--mgbah1a3hjkrd", "MR"), ("xn--mgbcpq6gpa1a", "BH"),
    ("xn--90ae", "BG"),
]


def make_teams(rng, idn=False, per_team=0, total=0):
    """Teams with their contacts.  per_team: that many contacts each
    (0: 1 to 4, as a seed always gave); total: more teams than ISO codes
    are numbered copies of them ("ke-2", "ke-3", ...), for benchmarks."""
    teams = []
    for code, cname, tz in countries():
        reg = region(code, tz)
        tid = "uk" if code == "GB" else code.lower()
        teams.append({"code": code, "id": tid, "name": cname, "tz": tz,
                      "region": reg})
    teams = order_for_small_sets(teams, rng)
    if idn:
        by_code = {t["code"]: t for t in teams}
        for tid, code in IDN_CCTLDS:
            if code in by_code:
                t = by_code[code]
                teams.append({"code": code, "id": tid, "name": t["name"],
                              "tz": t["tz"], "region": t["region"]})
    # the numbered copies come after the IDN teams, so that --teams with
    # --idn keeps them, as it did before there were copies
    iso = [t for t in teams if not t["id"].startswith("xn--")]
    for k in range(max(0, total - len(teams))):
        b = iso[k % len(iso)]
        teams.append({"code": b["code"], "id": f"{b['id']}-{k // len(iso) + 2}",
                      "name": b["name"], "tz": b["tz"],
                      "region": b["region"]})
    serial = 0
    for t in teams:
        cc = CALLING.get(t["code"], "999")
        langs = COUNTRY_LANGS.get(t["code"], [])[:1]
        langs = langs + (["en"] if "en" not in langs else [])
        given, family = NAMES[t["region"]]
        n = rng.choice([1, 2, 2, 3, 3, 4])
        if per_team:
            n = per_team
        contacts = []
        for i in range(n):
            serial += 1
            if i == 0 and langs[0] in SCRIPT_NAMES and rng.random() < 0.5:
                g, f = SCRIPT_NAMES[langs[0]]
            else:
                g, f = rng.choice(given), rng.choice(family)
                # names are unique within a team (check insists); with
                # --contacts-per-team a region may have too few names
                tries = 0
                while any(c["name"] == f"{g} {f}" for c in contacts):
                    g, f = rng.choice(given), rng.choice(family)
                    tries += 1
                    if tries > 50:
                        f = f"{f}-{serial}"
            local = ascii_fold(g).replace(" ", "") or f"contact{serial}"
            fam = ascii_fold(f) or f"irt{serial}"
            c = {
                "name": f"{g} {f}", "role": rng.choice(ROLES),
                "primary": i == 0, "substitute": i == 1,
                "country": t["code"], "timezone": t["tz"],
                "business_hours": business_hours(t["tz"]),
                "languages": langs[:2] if rng.random() < 0.7 else langs[:1],
                "email": f"{local}.{fam}.{serial}@irt.{t['id']}.example",
                "phone": phone(cc, serial * 4, rng),
                "mobile": phone(cc, serial * 4 + 1, rng),
                "emergency_phone": phone(cc, serial * 4 + 2, rng),
            }
            if rng.random() < 0.6:
                c["fax"] = phone(cc, serial * 4 + 3, rng)
            elif i == 0:
                # every primary contact has a fax, for the fax_first
                # policy; from a generator of its own, so that the rest
                # of the data stays what a seed always gave
                c["fax"] = phone(cc, serial * 4 + 3, random.Random(serial))
            if rng.random() < 0.5:
                c["messengers"] = [(rng.choice(MESSENGERS), c["mobile"])]
            if rng.random() < 0.25:
                c["other_telecom"] = rng.choice(OTHER)
            contacts.append(c)
        t["contacts"] = contacts
        t["policy"] = "standard" if n >= 2 else "solo"
    return teams


def gpg(home, *args, inp=None):
    return subprocess.run(["gpg", "--homedir", str(home), "--batch", "--yes",
                           "--quiet", "--pinentry-mode", "loopback",
                           "--passphrase", "", *args], input=inp,
                          capture_output=True, check=True)


def existing_keys(home):
    p = subprocess.run(["gpg", "--homedir", str(home), "--batch",
                        "--with-colons", "--list-keys"], capture_output=True,
                       text=True)
    keys, fpr = {}, None
    for line in p.stdout.splitlines():
        f = line.split(":")
        if f[0] == "pub":
            fpr = None
        elif f[0] == "fpr" and fpr is None:
            fpr = f[9]
        elif f[0] == "uid" and fpr:
            uid = f[9]
            if "<" in uid:
                keys[uid[uid.rindex("<") + 1:-1].lower()] = fpr
    return keys


def make_keys(pki, info, teams):
    home = pki / info["contacts_home"]
    have = existing_keys(home)
    want = [c for t in teams for c in t["contacts"]
            if c["email"].lower() not in have]
    made, reused = 0, sum(len(t["contacts"]) for t in teams) - len(want)
    if want:
        params = []
        for c in want:
            params.append("%no-protection\nKey-Type: eddsa\nKey-Curve: "
                          "ed25519\nKey-Usage: sign\nSubkey-Type: ecdh\n"
                          "Subkey-Curve: cv25519\nSubkey-Usage: encrypt\n"
                          f"Name-Real: {c['name']}\nName-Email: {c['email']}\n"
                          "Expire-Date: 0\n%commit\n")
        print(f"gen-repo: generating {len(want)} contact keys in one gpg run",
              file=sys.stderr)
        gpg(home, "--gen-key", inp="".join(params).encode())
        made = len(want)
        have = existing_keys(home)
    for t in teams:
        for c in t["contacts"]:
            c["pgp"] = have[c["email"].lower()]
    exported = subprocess.run(["gpg", "--homedir", str(home), "--batch",
                               "--export"], capture_output=True, check=True)
    gpg(pki / info["gnupg_home"], "--import", inp=exported.stdout)
    return made, reused


def write_teams(path, teams):
    out = ["# Synthetic ccTLD incident-response repository made by "
           "examples/gen-repo.py.", "# Every name, domain and number here "
           "is fictional.", "teams = ("]
    for ti, t in enumerate(teams):
        name = t["name"]
        out.append(f'  {{ id = "{t["id"]}";')
        out.append(f'    domain = "{t["id"]}";')
        out.append(f'    cctld_operator = "{esc(name)} Network Information Centre";')
        out.append(f'    host_organisation = "{esc(name)} ccTLD CSIRT";')
        out.append(f'    registry_operator = "{esc(name)} Registry Services";')
        out.append(f'    country = "{t["code"]}";')
        out.append(f'    region = "{t["region"]}";')
        out.append(f'    policy = "{t["policy"]}";')
        if t.get("sshdrop"):
            out.append(f'    sshdrop = {{ host = "{t["sshdrop"]}"; }};')
        out.append("    contacts = (")
        for ci, c in enumerate(t["contacts"]):
            out.append(f'      {{ name = "{esc(c["name"])}";')
            out.append(f'        role = "{esc(c["role"])}";')
            out.append(f'        primary = {str(c["primary"]).lower()}; '
                       f'substitute = {str(c["substitute"]).lower()};')
            out.append(f'        country = "{c["country"]}";')
            out.append(f'        timezone = "{c["timezone"]}";')
            out.append(f'        business_hours = "{c["business_hours"]}";')
            langs = ", ".join(f'"{x}"' for x in c["languages"])
            out.append(f"        languages = [ {langs} ];")
            out.append(f'        email = "{c["email"]}";')
            out.append(f'        pgp = "{c["pgp"]}";')
            for k in ("phone", "mobile", "emergency_phone", "fax"):
                if k in c:
                    out.append(f'        {k} = "{c[k]}";')
            if "messengers" in c:
                ms = ", ".join(f'{{ service = "{s}"; id = "{i}"; }}'
                               for s, i in c["messengers"])
                out.append(f"        messengers = ( {ms} );")
            if "other_telecom" in c:
                out.append(f'        other_telecom = "{esc(c["other_telecom"])}";')
            out.append("      }" + ("," if ci + 1 < len(t["contacts"]) else ""))
        out.append("    );")
        out.append("  }" + ("," if ti + 1 < len(teams) else ""))
    out.append(");")
    path.write_text("\n".join(out) + "\n")


MAIN = """\
# tocsin configuration made by examples/gen-repo.py for tests and the demo.
# The keys and certificates named here come from certs/mkpki.sh: throwaway.
gateway = {{
  store = "state/tocsin.db";
  gnupg_home = "{gnupg}";
  signing_key = "{gateway}";
  issuer_ca = "{issuer_ca}";
  workers = 4;
  listen = "127.0.0.1:{listen_port}";
  public_url = "http://127.0.0.1:{listen_port}/";
  replay_window = "24h";
  max_alert_bytes = 262144;
  default_audience = "all";
  duty_phone = "+41 22 555 0100";
}};

issuers = (
  {{ name = "desk-1"; openpgp = "{desk1}"; may_address = [ "all" ]; }},
  {{ name = "desk-2"; openpgp = "{desk2}"; may_address = [ "all" ]; }},
  {{ name = "cms-desk"; certificate = "{cms}"; may_address = [ "all" ]; }},
  # Kept on purpose: their signatures must be refused by the signature
  # check itself (expired, revoked), not by a missing configuration entry.
  {{ name = "expired-desk"; openpgp = "{expired}"; may_address = [ "all" ]; }},
  {{ name = "revoked-desk"; openpgp = "{revoked}"; may_address = [ "all" ]; }}
);

quorum = (
  {{ severities = [ "Extreme" ]; audience = "all"; issuers = 2; }}
);

providers = {{
  smtp = {{
    host = "127.0.0.1";
    port = {smtp_port};
    from = "tocsin@alerts.example";
    starttls = "required";
    ca = "{ca}";
    timeout = "30s";
  }};
  # SMS and voice through the Twilio-compatible test provider
  # (tests/peers/sms_provider.py); a national gateway of the generic kind
  # serves Kenya first, the others take over when it fails.
  sms = (
    {{ name = "ke-gateway"; kind = "generic";
      url = "https://127.0.0.1:{sms_port}/generic/send"; ca = "{ca}";
      secret = "{out}/secrets/generic.token"; prefixes = [ "+254" ];
      content_type = "application/json";
      body = "{{\\"to\\":\\"{{to}}\\",\\"text\\":\\"{{text}}\\"}}";
      headers = [ "Authorization: Bearer {{secret}}" ];
      id_field = "message_id"; rate = 50; parallel = 8; timeout = "10s"; }},{modem}
    {{ name = "twilio-main"; kind = "twilio";
      url = "https://127.0.0.1:{sms_port}"; ca = "{ca}";
      account = "{account}"; secret = "{out}/secrets/twilio.token";
      from = "+15555550100"; rate = 100; parallel = 8; timeout = "10s"; }}
  );
  voice = (
    {{ name = "twilio-voice"; kind = "twilio";
      url = "https://127.0.0.1:{sms_port}"; ca = "{ca}";
      account = "{account}"; secret = "{out}/secrets/twilio.token";
      from = "+15555550100"; rate = 20; parallel = 4; timeout = "10s"; }}
  );
  # Fax by e-mail through the same relay: FAX=+number@fax.example (RFC 3192).
  fax = {{
    format = "rfc3192"; domain = "fax.example";
    paper = "A4"; cover = false; pages = 2;
  }};{sshdrop}
}};

policies = {{
  standard = {{
    steps = (
      {{ after = "0s";  notify = [ "primary:pgp-email", "primary:sms" ]; }},
      {{ after = "15m"; notify = [ "primary:sms:emergency", "primary:voice:emergency" ]; }},
      {{ after = "30m"; notify = [ "substitute:pgp-email", "substitute:sms" ]; }},
      {{ after = "60m"; notify = [ "all:pgp-email" ]; }}
    );
  }};
  solo = {{
    steps = (
      {{ after = "0s";  notify = [ "primary:pgp-email", "primary:sms" ]; }},
      {{ after = "15m"; notify = [ "primary:sms:emergency", "primary:voice:emergency" ]; }},
      {{ after = "60m"; notify = [ "primary:pgp-email" ]; }}
    );
  }};
  # Teams whose internet is unreliable: the alert goes by fax at once too.
  # A fax is never encrypted, so it carries a summary only.
  fax_first = {{
    steps = (
      {{ after = "0s";  notify = [ "primary:pgp-email", "primary:fax" ]; }},
      {{ after = "15m"; notify = [ "primary:sms:emergency", "primary:voice:emergency" ]; }},
      {{ after = "60m"; notify = [ "all:pgp-email", "primary:fax" ]; }}
    );
    fax_detail = "summary";
  }};{offline}
}};
{groups}
@include "teams.conf"
"""

# With --modem: a GSM modem, tried when every HTTP provider of a number
# failed (no IP needed: the internet and DNS may be down).
MODEM = """
    {{ name = "gsm"; kind = "modem"; device = "{device}";
      fallback = true; rate = 1; timeout = "60s"; }},"""

# With --drop-teams: the drop host (in providers) and the policy of the
# teams that use it.
SSHDROP = """
  # SSH drop: teams of the offline policy get the alert, signed and with a
  # SHA-256 manifest, in a folder of their own on this host.
  sshdrop = (
    {{ name = "{name}"; host = "127.0.0.1"; port = {port}; user = "{user}";
      key = "{key}";
      fingerprint = "{fingerprint}";
      path = "{path}"; timeout = "10s"; }}
  );"""

OFFLINE = """
  # Teams with poor connectivity: the alert also goes to their folder on
  # the SSH drop host at once, and again with the last step.
  offline = {
    steps = (
      { after = "0s";  notify = [ "primary:pgp-email", "team:sshdrop" ]; },
      { after = "15m"; notify = [ "primary:sms:emergency", "primary:voice:emergency" ]; },
      { after = "60m"; notify = [ "all:pgp-email", "team:sshdrop" ]; }
    );
  };"""

DROP_HOST = "sat-hub"

GROUPS = {"gulf": "ae bh kw om qa sa", "nordic": "dk fi is no se",
          "caribbean": "ag bb bs dm do gd ht jm kn lc tt vc",
          "andean": "bo co ec pe"}


# The test provider is started with --account DEMO_ACCOUNT:DEMO_TOKEN.
DEMO_ACCOUNT = "ACdemo0000000000000000000000000001"
DEMO_TOKEN = "demo-token-not-a-secret-0001"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pki", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--teams", type=int, default=0,
                    help="at most this many teams; beyond the ISO 3166 "
                    "codes, numbered copies of them (ke-2, ...)")
    ap.add_argument("--contacts-per-team", type=int, default=0,
                    help="exactly N contacts a team, a key each (default: "
                    "1 to 4)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--idn", action="store_true",
                    help="add the internationalised ccTLDs as teams")
    ap.add_argument("--smtp-port", type=int, default=8587)
    ap.add_argument("--sms-port", type=int, default=8588)
    ap.add_argument("--listen-port", type=int, default=8025)
    ap.add_argument("--sms-account", default=DEMO_ACCOUNT)
    ap.add_argument("--sms-token", default=DEMO_TOKEN)
    ap.add_argument("--only", default="")
    ap.add_argument("--modem", help="serial device of a GSM modem, the SMS "
                    "providers' last resort")
    ap.add_argument("--fax-first", default="",
                    help="comma-separated team ids that get the fax_first "
                    "policy (e-mail and a fax at once)")
    ap.add_argument("--drop-teams", default="",
                    help="comma-separated team ids that get the offline "
                    "policy (e-mail and an SSH drop at once) and a folder on "
                    f"the SSH drop host {DROP_HOST}")
    ap.add_argument("--drop-port", type=int, help="the SSH drop host's port "
                    "on 127.0.0.1")
    ap.add_argument("--drop-user", help="user on the SSH drop host (default: "
                    "the user running this)")
    ap.add_argument("--drop-key", help="client private key (mode 0600)")
    ap.add_argument("--drop-fingerprint",
                    help="the drop host's key, SHA256:... (ssh-keygen -lf)")
    ap.add_argument("--drop-path", help="folder on the drop host that the "
                    "team folders go in")
    a = ap.parse_args()
    drop_teams = [x for x in a.drop_teams.split(",") if x]
    drop_opts = {"--drop-port": a.drop_port, "--drop-key": a.drop_key,
                 "--drop-fingerprint": a.drop_fingerprint,
                 "--drop-path": a.drop_path}
    if drop_teams:
        missing = [k for k, v in drop_opts.items() if v is None]
        if missing:
            ap.error(f"--drop-teams needs {', '.join(missing)}")
        both = set(drop_teams) & set(a.fax_first.split(","))
        if both:
            ap.error(f"in both --drop-teams and --fax-first: "
                     f"{','.join(sorted(both))}")
    elif any(v is not None for v in drop_opts.values()) or a.drop_user:
        ap.error("--drop-* options need --drop-teams")
    t0 = time.monotonic()
    pki = Path(a.pki).resolve()
    out = Path(a.out).resolve()
    info = json.loads((pki / "pki.json").read_text())
    rng = random.Random(a.seed)
    if not 0 <= a.contacts_per_team <= 50:
        ap.error("--contacts-per-team must be from 1 to 50")
    teams = make_teams(rng, a.idn, a.contacts_per_team, a.teams)
    unknown = set(drop_teams) - {t["id"] for t in teams}
    if unknown:
        ap.error(f"--drop-teams: no such team: {','.join(sorted(unknown))}")
    if a.only:
        keep = set(a.only.split(","))
        teams = [t for t in teams if t["id"] in keep]
    if a.teams:
        teams = teams[:a.teams]
    for t in teams:
        if t["id"] in set(a.fax_first.split(",")):
            t["policy"] = "fax_first"
        if t["id"] in drop_teams:
            t["policy"] = "offline"
            t["sshdrop"] = DROP_HOST
    made, reused = make_keys(pki, info, teams)
    out.mkdir(parents=True, exist_ok=True)
    (out / "state").mkdir(exist_ok=True)
    write_teams(out / "teams.conf", teams)
    # Provider tokens: throwaway, in 0600 files as tocsin requires.
    sec = out / "secrets"
    sec.mkdir(mode=0o700, exist_ok=True)
    for name in ("twilio", "generic"):
        f = sec / f"{name}.token"
        fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(a.sms_token + "\n")
        os.chmod(f, 0o600)
    ids = {t["id"] for t in teams}
    groups = []
    for g, members in GROUPS.items():
        m = [x for x in members.split() if x in ids]
        if m:
            groups.append(f'  {g} = [ {", ".join(chr(34) + x + chr(34) for x in m)} ];')
    gtext = "groups = {\n" + "\n".join(groups) + "\n};\n" if groups else ""
    sshdrop = offline = ""
    if drop_teams:
        user = a.drop_user or pwd.getpwuid(os.geteuid()).pw_name
        sshdrop = SSHDROP.format(
            name=DROP_HOST, port=a.drop_port, user=esc(user),
            key=esc(str(Path(a.drop_key).resolve())),
            fingerprint=esc(a.drop_fingerprint), path=esc(a.drop_path))
        offline = OFFLINE
    (out / "tocsin.conf").write_text(MAIN.format(
        gnupg=pki / info["gnupg_home"], gateway=info["gateway"],
        issuer_ca=pki / info["issuer_ca"], desk1=info["issuers"]["desk-1"],
        desk2=info["issuers"]["desk-2"], cms=pki / info["cms_issuer"],
        expired=info["issuers"]["expired"], revoked=info["issuers"]["revoked"],
        smtp_port=a.smtp_port, ca=pki / info["ca"], groups=gtext,
        sms_port=a.sms_port, out=out, account=a.sms_account,
        listen_port=a.listen_port, sshdrop=sshdrop, offline=offline,
        modem=MODEM.format(device=esc(a.modem)) if a.modem else ""))
    ncontacts = sum(len(t["contacts"]) for t in teams)
    print(f"gen-repo: {len(teams)} teams, {ncontacts} contacts, keys "
          f"{made} generated, {reused} reused, "
          f"{time.monotonic() - t0:.1f} s -> {out / 'tocsin.conf'}")


if __name__ == "__main__":
    main()
