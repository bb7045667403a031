#!/usr/bin/python3
"""The catalogs are complete for the sources as they are.

1. xgettext over po/POTFILES (the options of po/meson.build) into a
   temporary template: the same messages as po/tocsin.pot, so the
   committed template is up to date (else: ninja -C build tocsin-pot).
2. For every language of po/LINGUAS, every message of the template has a
   non-empty translation that is not fuzzy, with the same {placeholders}
   as many times each, the word ACK where the msgid has it, and
   msgfmt --check accepts the file.
Any failure names the language and the message; exit 1.

Usage: check.py SRCDIR
"""
import re
import subprocess
import sys
import tempfile
from pathlib import Path

XGETTEXT_ARGS = ["--keyword=N_", "--from-code=UTF-8",
                 "--add-comments=TRANSLATORS:", "--language=C"]
PLACEHOLDER = re.compile(r"\{[A-Za-z0-9_]+\}")


def unquote(s):
    out, i = [], 1
    while i < len(s) - 1:
        c = s[i]
        if c == "\\":
            n = s[i + 1]
            out.append({"n": "\n", "t": "\t", '"': '"', "\\": "\\"}.get(n, n))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def entries(path):
    """[(msgid, msgstr, fuzzy)] of a .po or .pot file, the header left
    out, obsolete (#~) entries left out."""
    out = []
    key = val = cur = None
    fuzzy = False
    for line in Path(path).read_text(encoding="utf-8").splitlines() + [""]:
        if line.startswith("#,"):
            fuzzy = fuzzy or "fuzzy" in line
        elif line.startswith("msgid "):
            key, cur = unquote(line[6:]), "id"
        elif line.startswith("msgstr "):
            val, cur = unquote(line[7:]), "str"
        elif line.startswith('"'):
            if cur == "id":
                key += unquote(line)
            elif cur == "str":
                val += unquote(line)
        elif not line.strip():
            if key:
                out.append((key, val, fuzzy))
            key = val = cur = None
            fuzzy = False
    return out


def main():
    src = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    po = src / "po"
    bad = []
    files = [x for x in (po / "POTFILES").read_text().split() if x]
    with tempfile.TemporaryDirectory() as tmp:
        pot = Path(tmp) / "now.pot"
        subprocess.run(["xgettext", *XGETTEXT_ARGS, "-o", str(pot),
                        "--directory", str(src), *files], check=True)
        now = {e[0] for e in entries(pot)}
    committed = {e[0] for e in entries(po / "tocsin.pot")}
    for m in sorted(now - committed):
        bad.append(f"tocsin.pot lacks {m!r}: run ninja -C build tocsin-pot "
                   "and ninja -C build tocsin-update-po, then translate")
    for m in sorted(committed - now):
        bad.append(f"tocsin.pot has {m!r}, which no source has any more: "
                   "run ninja -C build tocsin-pot")
    langs = [x for x in (po / "LINGUAS").read_text().split()
             if not x.startswith("#")]
    if not langs:
        bad.append("po/LINGUAS lists no language")
    for lang in langs:
        tr = {k: (v, f) for k, v, f in entries(po / f"{lang}.po")}
        for m in sorted(now):
            if m not in tr:
                bad.append(f"{lang}: no entry for {m!r}")
                continue
            v, fuzzy = tr[m]
            if not v:
                bad.append(f"{lang}: {m!r} is not translated")
            elif fuzzy:
                bad.append(f"{lang}: {m!r} is fuzzy: check it and remove "
                           "the flag")
            elif sorted(PLACEHOLDER.findall(v)) != \
                    sorted(PLACEHOLDER.findall(m)):
                bad.append(f"{lang}: {m!r} has placeholders "
                           f"{sorted(PLACEHOLDER.findall(m))}, its "
                           f"translation {sorted(PLACEHOLDER.findall(v))}")
            elif "ACK" in m.split() and "ACK" not in v:
                bad.append(f"{lang}: {m!r} lost the word ACK, the word a "
                           "reply is read for")
        r = subprocess.run(["msgfmt", "--check", "--statistics", "-o",
                            "/dev/null", str(po / f"{lang}.po")],
                           capture_output=True, text=True)
        if r.returncode != 0:
            bad.append(f"{lang}: msgfmt --check: {r.stderr.strip()}")
        elif "untranslated" in r.stderr or "fuzzy" in r.stderr:
            bad.append(f"{lang}: msgfmt says {r.stderr.strip()}")
    for b in bad:
        print(b)
    print(f"{len(now)} messages, {len(langs)} languages, "
          f"{len(bad)} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
