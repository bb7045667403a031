#!/usr/bin/python3
"""gsm_modem: a GSM modem (a USB or serial modem with a SIM) for tocsin's
tests, on a pseudo-terminal.

It opens a pty pair, sets the slave side raw and serves the master side as a
modem speaking AT commands: 3GPP TS 27.007 for identity, SIM and network,
TS 27.005 in PDU mode for short messages.  It decodes every SMS-SUBMIT PDU
(TS 23.040) the client sends, exactly (GSM 03.38 7-bit default alphabet and
its extension table, UCS-2 with surrogate pairs, concatenation by UDH),
records each part and each reassembled message, one JSON line each, and
injects the faults a real modem and network produce (+CMS ERROR codes, slow
answers, answers that never come), chosen by rules that can be changed
while it runs.  It also plays inbound messages (SMS-DELIVER PDUs it stores
in the SIM and announces with +CMTI), and a SIM that needs its PIN or a
network that is not there.

Run it by hand, for example:

    /usr/bin/python3 tests/peers/gsm_modem.py --link /tmp/m/ttyGSM0 \\
        --ready-file /tmp/m/ready --log /tmp/m/gsm.jsonl --pin 1234 \\
        --fault '{"match": "^\\\\+254", "action": "cms_error", "code": 38}'

then talk to it with a terminal program (picocom -c /tmp/m/ttyGSM0, echo
on by default as in a real modem), and drive it through its control socket,
for which the peer is its own client (--send READY_FILE JSON prints the
answer and exits):

    /usr/bin/python3 tests/peers/gsm_modem.py --send /tmp/m/ready \
        '{"inbound": {"from": "+254700000001", "text": "ACK 12345678"}}'

Stop it with Ctrl-C or SIGTERM; it exits 0.

Device.  The pty's slave is the device a client opens (its path, or the
--link symlink to it, is "device" in the ready file).  The modem keeps a
descriptor of the slave open itself, so that a client may close and reopen
the device as often as it likes without a hang-up.  What the modem writes
while no client has the device open (a URC, the end of an answer) waits in
the pty and is read by the next client: a client should flush its input
(tcflush TCIFLUSH) after opening, as it should with a real modem.  Bytes
may be sent with any split; a line ends with CR (a LF is ignored).  The
client sets its own termios; the line discipline is raw (no echo by the
pty: the echo comes from the modem, ATE1).

Answers as a real modem gives them: information lines "\\r\\n<text>\\r\\n",
then "\\r\\nOK\\r\\n", "\\r\\nERROR\\r\\n", "\\r\\n+CME ERROR: <n>\\r\\n" or
"\\r\\n+CMS ERROR: <n>\\r\\n".  +CME ERROR follows AT+CMEE (0, the default:
plain ERROR; 1: numeric; 2: words); +CMS ERROR is always numeric (27.005).
A line that does not begin with AT, or longer than 1024 characters, or an
unknown command gets ERROR.  One extended (+) command per line (no ';'
chains).

Commands:
  AT, ATZ and AT&F (echo on, CMEE 0, PDU mode, indications off),
  ATE0/ATE1, ATI, ATQ0, ATV1 (chained as ATE0Q0V1 too; ATV0 and ATQ1 are
  refused), AT+CSCS="GSM"|"IRA"|"UCS2" and ?, AT+CSMS? and =0|1,
  AT+CMEE=0|1|2 and ?, AT+CGMI, AT+CGMM, AT+CGMR, AT+CGSN (and +GMI, +GMM,
  +GMR, +GSN), AT+CIMI,
  AT+CPIN? -> +CPIN: READY | SIM PIN | SIM PUK;  AT+CPIN="<pin>": right ->
      OK and READY; wrong -> +CME ERROR: 16, the third wrong one leaves the
      SIM in SIM PUK (then +CME ERROR: 12, and AT+CPIN="<puk>","<new pin>"
      unlocks it with a new PIN; --puk, default 12345678); when no PIN is
      asked: +CME ERROR: 3.  While the SIM is locked the SMS commands
      answer +CMS ERROR: 311 (SIM PUK: 316), AT+CIMI +CME ERROR: 11 (12),
      and the modem is not registered.
  AT+CREG? -> +CREG: <n>,<stat>[,"1A2B","0C3D" when n is 2] (stat 1 home, 5 roaming, 0 not registered,
      2 searching, 3 denied); AT+CREG=0|1|2 (1 and 2: a "+CREG: <stat>" URC
      when the state changes by the control channel).
  AT+CSQ -> +CSQ: <rssi>,99 (0 while not registered);  AT+COPS? ->
      +COPS: 0,0,"<operator>" when registered, else +COPS: 0.
  AT+CMGF=0|1 and ?: PDU mode (the default) or text mode.  In text mode
      AT+CMGS, AT+CMGR and AT+CMGL answer +CMS ERROR: 302.
  AT+CSCA? -> +CSCA: "<smsc>",145;  AT+CSCA="<number>"[,<type>].
  AT+CNMI=<mode>,<mt>[,<bm>[,<ds>[,<bfr>]]] and ?: with mode 1..3 and mt 1
      an inbound message is announced by "\\r\\n+CMTI: \\"SM\\",<index>\\r\\n";
      mt 2 or 3 (routing the message itself) answers +CMS ERROR: 303.
  AT+CPMS? and AT+CPMS="SM"[,"SM"[,"SM"]] (ME and MT are taken as SM);
      30 slots.
  AT+CMGS=<length>: "\\r\\n> ", then the PDU in hex, ended by Ctrl-Z (0x1A);
      ESC (0x1B) cancels (OK, nothing sent).  The PDU begins with the SMSC
      part (00: the default SMSC); <length> counts the octets after it.
      Checked: hex, <length>, at most 176 octets in all, an SMS-SUBMIT, a
      destination of 1..20 digits (type 0x91 gives a "+" number; not
      alphanumeric), DCS 0x00 (GSM 7-bit) or 0x08 (UCS-2) only, the
      validity period its VPF says, the UDH when UDHI is set (concatenation
      IEs 0x00 with an 8-bit and 0x08 with a 16-bit reference, 1 <= seq <=
      total), the user data exactly as long as UDL says (7-bit: septets,
      after the fill bits that align the text after the UDH).  Anything
      wrong: +CMS ERROR: 304.  Not registered (stat not 1 or 5): +CMS
      ERROR: 331.  Sent: "\\r\\n+CMGS: <mr>\\r\\n\\r\\nOK\\r\\n", mr counting
      from 1 (after 255, 0).  The echo (ATE1) covers the PDU too.
  AT+CMGR=<index>: "+CMGR: <stat>,,<length>" and the PDU (SMSC part
      included), OK; an unread message becomes read.  An empty or invalid
      index: +CMS ERROR: 321.
  AT+CMGL[=<stat>]: 0 unread (the default), 1 read, 2 unsent, 3 sent, 4 all;
      "+CMGL: <index>,<stat>,,<length>" and the PDU for each, then OK.
  AT+CMGD=<index>[,<flag>]: flag 0 that index (OK even when empty), 1 all
      read, 2 read and sent, 3 read, sent and unsent, 4 all.

Control channel: a UNIX stream socket (mode 0600), "control" in the ready
file (--control PATH, default a fresh folder under /tmp).  One JSON object
a line, one JSON line answered for each, several on one connection:
  {"get": true}                 the state, the rules with their counters
                                ("fired", "left"), the counters, the store
  {"reset": true}               clears the rules
  {"rules": [..]}               replaces the rules (fresh counters)
  {"add": [..]}                 appends rules
  {"state": {"registration": 0|1|2|3|5, "pin": "READY"|"SIM PIN"|"SIM PUK",
             "csq": 0..31|99, "operator": "name",
             "urc_after_prompt": N}}  (the next N AT+CMGS prompts are
                                followed at once, in the same write, by an
                                unsolicited "+CREG: <stat>" line)
  {"inbound": {"from": "+254700000001", "text": "ACK 12345678",
               "dcs": "gsm7"|"ucs2" (default: gsm7 when the text fits the
               alphabet), "pid": 0}}
      stores SMS-DELIVER PDUs (a text too long for one is split into parts
      with an 8-bit reference UDH, one index each) and announces each with
      +CMTI when AT+CNMI asked for it; memory full: refused, nothing stored,
      {"ok": false, "error": "memory full", "cms": 322}.
Keys of one command are applied in the order reset, rules, add, state,
inbound; a bad command changes nothing.  The answer is the state with
"ok": true (and "inbound": [indexes] when one was stored), or
{"ok": false, "error": "..."}.

Fault rules (also --fault JSON, repeatable; a JSON list adds several), tried
in order on every valid AT+CMGS PDU, after the registration check:
  {"match": REGEX,              searched in the destination number ("+..."
                                when international); absent: every number
   "action": "cms_error" | "delay" | "silent" | "lost_answer"
             | "drop_after_prompt",
   "code": 38,                  with cms_error: the +CMS ERROR code (0..511)
   "seconds": 5,                with delay: how long before the answer
   "count": N,                  times it fires; -1 (the default) always
   "name": "any label"}
"cms_error" answers +CMS ERROR: <code>, nothing is sent.  "delay" waits and
goes on to the next rules (a delay then a cms_error rule: a slow error).
"silent": no answer at all to this AT+CMGS and nothing sent (the network
lost: the client must time out); later commands are answered.  "lost_answer":
the message is sent and recorded but its answer never comes (a retry makes
a duplicate).  "drop_after_prompt": the modem stays at the prompt, its
Ctrl-Z taken for nothing: all input is swallowed without echo or answer
until an ESC, which ends it silently.  At most one non-delay rule fires.

What it writes:
  * stdout: "gsm_modem serving DEVICE" once it serves;
  * --ready-file: JSON {"device": the --link path or the slave's path,
    "pty": the slave's path, "control": the socket's path, "pid"}, written
    atomically, with a newline;
  * --log FILE: JSON lines, flushed each; every one has "event" and "t"
    (unix time):
      at       a command line: "cmd" (a PIN shown as ****; "<PDU n>" for
               the PDU after AT+CMGS=n, "<ESC>" for a cancel), "result"
               (the final result code sent, or null when none was: AT+CMGS
               has "prompt": true, its PDU line the result), "why" for an
               error or a fault
      internal_error  a fault of the modem itself (its stderr has the
               traceback); it answered ERROR and serves on
      part     an accepted SMS-SUBMIT: "to", "smsc" (the SMSC the PDU
               named, null for 00), "ref" (null without concatenation),
               "ref16" (true for IE 0x08), "total", "seq", "dcs" (0 or 8),
               "text" (this part alone), "pdu" (the hex as received), "mr",
               "vp" (null, or {"format": "relative"|"absolute"|"enhanced",
               "octets": hex, "seconds" for relative}), "pid", "srr"
               (status report asked), "rd", "udh" (list of {"iei", "data"}
               in hex), "warnings" (list)
      sms      a whole message, once its last part came: "to", "text",
               "parts", "dcs", "ref", "mrs", "warnings" (a split escape or
               surrogate pair is joined, as a phone does, and not warned)
      fault    a rule fired: "action", "rule" (its spec), "to"
      inbound  a stored message: "from", "text", "index", "dcs", "pdu",
               "ref", "total", "seq"
      read     AT+CMGR or AT+CMGL gave a message: "index", "by"
      delete   a message deleted: "index"
      state    the state changed (control): the new values
  * stderr: one line per event.

Limits: a command line 1024 characters, a PDU 176 octets, 30 slots.

Use /usr/bin/python3 (standard library only).
"""

import argparse
import errno
import fcntl
import json
import os
import re
import select
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
import tty

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peerfiles import write_atomic  # noqa: E402

MAX_LINE = 1024          # a command line; longer ones get ERROR
MAX_PDU = 176            # octets, SMSC part and TPDU
MAX_TPDU = 164
SLOTS = 30
MAX_CONTROL_LINE = 64 * 1024
WRITE_WAIT = 2.0         # seconds a write to a full pty is retried

CTRL_Z, ESC = 0x1A, 0x1B

# GSM 03.38 default alphabet, indexed by septet; 0x1B is the escape.
GSM7 = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;"
        "<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
assert len(GSM7) == 128
GSM7_EXT = {0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\",
            0x3C: "[", 0x3D: "~", 0x3E: "]", 0x40: "|", 0x65: "€"}
GSM7_REV = {c: i for i, c in enumerate(GSM7) if i != ESC}
GSM7_EXT_REV = {c: i for i, c in GSM7_EXT.items()}

CME_TEXT = {3: "operation not allowed", 4: "operation not supported",
            10: "SIM not inserted", 11: "SIM PIN required",
            12: "SIM PUK required", 16: "incorrect password",
            30: "no network service"}

ACTIONS = ("cms_error", "delay", "silent", "lost_answer", "drop_after_prompt")
RULE_KEYS = {"match", "action", "code", "seconds", "count", "name"}
PIN_STATES = ("READY", "SIM PIN", "SIM PUK")
REG_STATES = (0, 1, 2, 3, 5)


def log(msg):
    """One event line on stderr, flushed at once so a test log is live."""
    sys.stderr.write(f"{time.strftime('%H:%M:%S')} gsm_modem: {msg}\n")
    sys.stderr.flush()


class PduError(ValueError):
    """A PDU refused: +CMS ERROR 304, with the reason in the log."""


# --- PDU decoding ---------------------------------------------------------

def unpack_septets(data, count, skip_bits=0):
    """count septets from data, LSB first, after skip_bits fill bits."""
    out = []
    for k in range(count):
        bit = skip_bits + 7 * k
        i, sh = divmod(bit, 8)
        v = data[i] >> sh
        if sh > 1:
            if i + 1 >= len(data):
                raise PduError("user data shorter than its length")
            v |= data[i + 1] << (8 - sh)
        out.append(v & 0x7F)
    return out


def septets_text(septets, warnings):
    """Text of GSM 7-bit septets: the escape takes the next septet from the
    extension table (one it lacks: the basic character, as 23.038 says)."""
    out = []
    i = 0
    while i < len(septets):
        s = septets[i]
        if s == ESC:
            if i + 1 >= len(septets):
                warnings.append("escape at the end of the text")
                break
            nxt = septets[i + 1]
            if nxt in GSM7_EXT:
                out.append(GSM7_EXT[nxt])
            else:
                warnings.append(f"escape before 0x{nxt:02X}, not in the "
                                "extension table")
                out.append(" " if nxt == ESC else GSM7[nxt])
            i += 2
            continue
        out.append(GSM7[s])
        i += 1
    return "".join(out)


def ucs2_text(data, warnings):
    if len(data) % 2:
        raise PduError("UCS-2 user data of an odd length")
    text = data.decode("utf-16-be", errors="surrogatepass")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        warnings.append("a lone surrogate")
    return text


def decode_address(b, pos, what):
    """(number, next position) of an address field: digit count, type,
    BCD semi-octets."""
    if pos + 2 > len(b):
        raise PduError(f"{what} address cut short")
    ndig, toa = b[pos], b[pos + 1]
    if not toa & 0x80:
        raise PduError(f"{what} address type 0x{toa:02X} lacks bit 7")
    if ndig == 0 or ndig > 20:
        raise PduError(f"{what} address of {ndig} digits")
    if (toa >> 4) & 7 == 5:
        raise PduError(f"alphanumeric {what} address")
    nbytes = (ndig + 1) // 2
    raw = b[pos + 2:pos + 2 + nbytes]
    if len(raw) < nbytes:
        raise PduError(f"{what} address cut short")
    digits = []
    for o in raw:
        digits.append(o & 0x0F)
        digits.append(o >> 4)
    if ndig % 2 and digits[ndig] != 0xF:
        raise PduError(f"{what} address: odd length without the F filler")
    chars = "0123456789*#abc"
    num = ""
    for d in digits[:ndig]:
        if d > 0xE:
            raise PduError(f"{what} address: filler inside the number")
        num += chars[d]
    if (toa >> 4) & 7 == 1:
        num = "+" + num
    return num, pos + 2 + nbytes


def smsc_of(part):
    """The SMSC number of the PDU's SMSC part (type, BCD), None when it is
    empty, its hex when it is not a number."""
    if not part:
        return None
    digits = "".join(f"{o & 15:X}{o >> 4:X}" for o in part[1:])
    if digits.endswith("F"):
        digits = digits[:-1]
    if not digits.isdigit():
        return part.hex().upper()
    return ("+" if (part[0] >> 4) & 7 == 1 else "") + digits


def relative_vp_seconds(v):
    if v <= 143:
        return (v + 1) * 300
    if v <= 167:
        return 12 * 3600 + (v - 143) * 1800
    if v <= 196:
        return (v - 166) * 86400
    return (v - 192) * 7 * 86400


def parse_udh(ud):
    """(ies, concat) of the UDH at the start of ud; concat is (ref, total,
    seq, ref16) or None."""
    if not ud:
        raise PduError("UDHI set without user data")
    udhl = ud[0]
    if udhl + 1 > len(ud):
        raise PduError("UDH longer than the user data")
    h = ud[1:1 + udhl]
    ies, concat = [], None
    i = 0
    while i < len(h):
        if i + 2 > len(h):
            raise PduError("UDH information element cut short")
        iei, ln = h[i], h[i + 1]
        data = h[i + 2:i + 2 + ln]
        if len(data) < ln:
            raise PduError("UDH information element cut short")
        ies.append({"iei": f"{iei:02X}", "data": data.hex().upper()})
        if iei in (0x00, 0x08):
            want = 3 if iei == 0x00 else 4
            if ln != want:
                raise PduError(f"concatenation IE 0x{iei:02X} of length {ln}")
            if concat is not None:
                raise PduError("two concatenation IEs")
            ref = data[0] if iei == 0 else (data[0] << 8 | data[1])
            total, seq = data[-2], data[-1]
            if total == 0 or seq == 0 or seq > total:
                raise PduError(f"concatenation part {seq} of {total}")
            concat = (ref, total, seq, iei == 0x08)
        i += 2 + ln
    return udhl, ies, concat


def decode_submit(hexpdu, length):
    """The fields of an SMS-SUBMIT given in hex with the SMSC part; length
    is the TPDU length AT+CMGS announced.  Raises PduError."""
    if len(hexpdu) % 2 or not re.fullmatch(r"[0-9A-Fa-f]*", hexpdu):
        raise PduError("not hexadecimal")
    b = bytes.fromhex(hexpdu)
    if not b:
        raise PduError("empty PDU")
    if len(b) > MAX_PDU:
        raise PduError(f"{len(b)} octets, over {MAX_PDU}")
    sl = b[0]
    if sl > 11:
        raise PduError(f"SMSC part of {sl} octets")
    tp = b[1 + sl:]
    if len(tp) != length:
        raise PduError(f"TPDU of {len(tp)} octets, {length} announced")
    if not tp:
        raise PduError("empty TPDU")
    fo = tp[0]
    if fo & 0x03 != 0x01:
        raise PduError(f"not an SMS-SUBMIT (MTI {fo & 3})")
    vpf = (fo >> 3) & 3
    udhi = bool(fo & 0x40)
    if len(tp) < 2:
        raise PduError("cut short after the first octet")
    to, pos = decode_address(tp, 2, "destination")
    if pos + 2 > len(tp):
        raise PduError("cut short before PID and DCS")
    pid, dcs = tp[pos], tp[pos + 1]
    pos += 2
    if dcs not in (0x00, 0x08):
        raise PduError(f"DCS 0x{dcs:02X} (only 0x00 and 0x08 are taken)")
    vp = None
    if vpf == 2:
        if pos + 1 > len(tp):
            raise PduError("validity period cut short")
        vp = {"format": "relative", "octets": f"{tp[pos]:02X}",
              "seconds": relative_vp_seconds(tp[pos])}
        pos += 1
    elif vpf in (1, 3):
        if pos + 7 > len(tp):
            raise PduError("validity period cut short")
        vp = {"format": "enhanced" if vpf == 1 else "absolute",
              "octets": tp[pos:pos + 7].hex().upper()}
        pos += 7
    if pos + 1 > len(tp):
        raise PduError("no user data length")
    udl = tp[pos]
    ud = tp[pos + 1:]
    warnings = []
    ies, concat, udhl = [], None, -1
    if udhi:
        udhl, ies, concat = parse_udh(ud)
    if dcs == 0x00:
        if udl > 160:
            raise PduError(f"UDL {udl} septets, over 160")
        if len(ud) != (udl * 7 + 7) // 8:
            raise PduError(f"{len(ud)} octets of user data for {udl} septets")
        hsept = ((udhl + 1) * 8 + 6) // 7 if udhi else 0
        if hsept > udl:
            raise PduError("UDH longer than UDL")
        units = unpack_septets(ud, udl - hsept, hsept * 7)
        text = septets_text(units, warnings)
    else:
        if udl > 140:
            raise PduError(f"UDL {udl} octets, over 140")
        if len(ud) != udl:
            raise PduError(f"{len(ud)} octets of user data, UDL {udl}")
        units = ud[udhl + 1:] if udhi else ud
        text = ucs2_text(bytes(units), warnings)
    return {"to": to, "smsc": smsc_of(b[1:1 + sl]), "dcs": dcs, "pid": pid,
            "vp": vp,
            "srr": bool(fo & 0x20), "rd": bool(fo & 0x04), "udh": ies,
            "concat": concat, "units": units, "text": text,
            "warnings": warnings}


# --- PDU encoding (inbound SMS-DELIVER) -------------------------------------

def encode_address(num):
    international = num.startswith("+")
    digits = num[1:] if international else num
    if not re.fullmatch(r"[0-9]{1,20}", digits):
        raise ValueError(f"bad number {num!r}")
    padded = digits + ("F" if len(digits) % 2 else "")
    bcd = "".join(padded[i + 1] + padded[i] for i in range(0, len(padded), 2))
    return bytes([len(digits), 0x91 if international else 0x81]) + \
        bytes.fromhex(bcd)


def gsm7_septets(text):
    """Septets of text, or None when a character is not in the alphabet."""
    out = []
    for c in text:
        if c in GSM7_REV:
            out.append(GSM7_REV[c])
        elif c in GSM7_EXT_REV:
            out += [ESC, GSM7_EXT_REV[c]]
        else:
            return None
    return out


def pack_septets(septets, fill_bits=0):
    acc, nbits, out = 0, fill_bits, bytearray()
    for s in septets:
        acc |= s << nbits
        nbits += 7
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8
    if nbits:
        out.append(acc & 0xFF)
    return bytes(out)


def scts_now():
    t = time.gmtime()
    vals = (t.tm_year % 100, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min,
            t.tm_sec, 0)
    return bytes(((v % 10) << 4) | (v // 10) for v in vals)


def split_units(units, size, joined):
    """Cut units into parts of at most size, never between the two units
    that joined(prev, cur) says belong together."""
    parts, cur = [], []
    for k, u in enumerate(units):
        if len(cur) >= size or (len(cur) == size - 1 and k + 1 < len(units)
                                and joined(u, units[k + 1])):
            parts.append(cur)
            cur = []
        cur.append(u)
    parts.append(cur)
    return parts


def deliver_pdus(smsc, frm, text, dcs_name, pid, ref):
    """SMS-DELIVER PDUs (SMSC part included) carrying text; several with a
    concatenation UDH when it does not fit one."""
    sept = gsm7_septets(text)
    if dcs_name is None:
        dcs_name = "gsm7" if sept is not None else "ucs2"
    if dcs_name == "gsm7":
        if sept is None:
            raise ValueError("the text is not in the GSM 7-bit alphabet")
        units, single, part = sept, 160, 153
        joined = (lambda a, b: a == ESC)
    elif dcs_name == "ucs2":
        units = list(text.encode("utf-16-be"))
        units = [units[i] << 8 | units[i + 1] for i in range(0, len(units), 2)]
        single, part = 70, 67
        joined = (lambda a, b: 0xD800 <= a <= 0xDBFF)
    else:
        raise ValueError("dcs must be gsm7 or ucs2")
    chunks = [units] if len(units) <= single else \
        split_units(units, part, joined)
    if len(chunks) > 255:
        raise ValueError("text too long")
    sca = encode_address(smsc)
    sca = bytes([len(sca) - 1]) + sca[1:]
    oa = encode_address(frm)
    out = []
    for seq, chunk in enumerate(chunks, 1):
        udh = b""
        if len(chunks) > 1:
            udh = bytes([5, 0x00, 3, ref, len(chunks), seq])
        fo = 0x04 | (0x40 if udh else 0)       # SMS-DELIVER, no more msgs
        if dcs_name == "gsm7":
            fill = (7 - (len(udh) * 8) % 7) % 7 if udh else 0
            ud = udh + pack_septets(chunk, fill)
            udl = len(chunk)
            if udh:
                udl += (len(udh) * 8 + fill) // 7
            dcs = 0x00
        else:
            ud = udh + b"".join(u.to_bytes(2, "big") for u in chunk)
            udl = len(ud)
            dcs = 0x08
        tpdu = bytes([fo]) + oa + bytes([pid, dcs]) + scts_now() + \
            bytes([udl]) + ud
        out.append((sca + tpdu, len(tpdu), len(chunks), seq))
    return out, dcs_name


# --- fault rules -------------------------------------------------------------

class RuleError(ValueError):
    pass


class Rule:
    def __init__(self, spec):
        if not isinstance(spec, dict):
            raise RuleError(f"a rule must be a JSON object, got {spec!r}")
        unknown = set(spec) - RULE_KEYS
        if unknown:
            raise RuleError(f"unknown rule keys {sorted(unknown)}")
        self.spec = dict(spec)
        match = spec.get("match")
        if match is not None and not isinstance(match, str):
            raise RuleError("match must be a string")
        try:
            self.match = re.compile(match) if match else None
        except re.error as e:
            raise RuleError(f"bad regex {match!r}: {e}")
        self.action = spec.get("action")
        if self.action not in ACTIONS:
            raise RuleError(f"action must be one of {ACTIONS}")
        code = spec.get("code")
        if self.action == "cms_error":
            if not isinstance(code, int) or isinstance(code, bool) or \
                    not 0 <= code <= 511:
                raise RuleError("cms_error needs a code 0..511")
        elif code is not None:
            raise RuleError("code goes with cms_error")
        self.code = code
        secs = spec.get("seconds")
        if self.action == "delay":
            if isinstance(secs, bool) or not isinstance(secs, (int, float)) \
                    or not 0 <= secs <= 3600:
                raise RuleError("delay needs seconds 0..3600")
        elif secs is not None:
            raise RuleError("seconds goes with delay")
        self.seconds = secs
        count = spec.get("count", -1)
        if not isinstance(count, int) or isinstance(count, bool) or count < -1:
            raise RuleError("count must be an integer >= -1")
        self.left = count
        self.fired = 0

    def public(self):
        d = dict(self.spec)
        d["fired"] = self.fired
        d["left"] = self.left
        return d


def rules_of(specs):
    if not isinstance(specs, list):
        raise RuleError("rules must be a list")
    return [Rule(s) for s in specs]


# --- the modem ---------------------------------------------------------------

class Modem:
    """The modem's state and its AT interpreter.  The serving thread calls
    feed(); the control thread calls control(); both hold self.lock."""

    def __init__(self, a, master, device, slave_path, control_path, logfile,
                 rules):
        self.a = a
        self.master = master
        self.device = device
        self.slave_path = slave_path
        self.control_path = control_path
        self.logfile = logfile
        self.rules = rules
        self.lock = threading.RLock()
        self.wlock = threading.Lock()
        self.stop = threading.Event()
        self.pin = a.pin
        self.pin_state = "SIM PIN" if a.pin else "READY"
        self.pin_tries = 3
        self.registration = a.registration
        self.csq = a.csq
        self.operator = a.operator
        self.smsc = a.smsc
        self.imei = a.imei
        self.imsi = a.imsi
        self.reset_settings()
        self.mr = 0
        self.store = {}            # index -> dict(stat, pdu, tplen, ...)
        self.inbound_ref = 0
        self.concat = {}           # (to, ref, total, ref16) -> {seq: part}
        self.counters = {"commands": 0, "parts": 0, "sms": 0, "inbound": 0,
                         "errors": 0, "faults": 0, "dropped_bytes": 0}
        self.dropping = False
        # input state
        self.line = bytearray()
        self.overlong = False
        self.mode = "command"      # command | pdu | stuck
        self.pdu_len = 0
        self.pdu = bytearray()
        self.pdu_overlong = False

    def reset_settings(self):
        self.echo = True
        self.cmee = 0
        self.cmgf = 0
        self.cnmi = [0, 0, 0, 0, 0]
        self.creg_n = 0
        self.urc_after_prompt = 0
        self.cscs = "GSM"

    # --- output ------------------------------------------------------------
    def write(self, data):
        """Write to the master.  A pty nobody reads fills up, so a write
        that cannot go within WRITE_WAIT is dropped (and said), as a serial
        line without a reader loses bytes; until a write goes again later
        writes do not wait at all, so that an unread modem does not stall."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        with self.wlock:
            wait = 0 if self.dropping else WRITE_WAIT
            deadline = time.monotonic() + wait
            while data:
                try:
                    n = os.write(self.master, data)
                    data = data[n:]
                    self.dropping = False
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        if not self.dropping:
                            log(f"pty full: {len(data)} bytes dropped, and "
                                "more until it is read")
                        self.dropping = True
                        self.counters["dropped_bytes"] += len(data)
                        return
                    select.select([], [self.master], [], 0.05)
                except OSError as e:
                    if e.errno == errno.EIO:
                        log(f"pty write: EIO, {len(data)} bytes dropped")
                        return
                    raise

    def event(self, ev, **fields):
        rec = {"event": ev, "t": time.time()}
        rec.update(fields)
        # ASCII JSON: a lone surrogate (a pair split by the client) stays
        # representable.
        line = json.dumps(rec) + "\n"
        if self.logfile is not None:
            self.logfile.write(line)
            self.logfile.flush()
        short = {k: v for k, v in fields.items() if k not in ("pdu", "udh")}
        log(f"{ev} {json.dumps(short, ensure_ascii=False)[:300]}")

    # --- input -------------------------------------------------------------
    def feed(self, data):
        with self.lock:
            for b in data:
                self.feed_byte(b)

    def feed_byte(self, b):
        if self.mode == "stuck":
            if b == ESC:
                self.mode = "command"
                log("ESC: the stuck prompt ends, no answer")
            return
        if self.echo:
            self.write(bytes([b]))
        if self.mode == "pdu":
            if b == ESC:
                self.mode = "command"
                self.event("at", cmd="<ESC>", result="OK")
                self.write("\r\nOK\r\n")
            elif b == CTRL_Z:
                self.mode = "command"
                self.end_pdu()
            elif b in (0x0D, 0x0A):
                pass
            elif len(self.pdu) >= MAX_LINE:
                self.pdu_overlong = True
            else:
                self.pdu.append(b)
            return
        if b == 0x0D:
            line = bytes(self.line)
            over = self.overlong
            self.line = bytearray()
            self.overlong = False
            if over:
                self.final(line[:64].decode("latin-1") + "...", "ERROR",
                           why="line too long")
                return
            self.command(line.decode("latin-1").strip())
        elif b == 0x0A:
            pass
        elif len(self.line) >= MAX_LINE:
            self.overlong = True
        else:
            self.line.append(b)

    # --- answers -----------------------------------------------------------
    def final(self, cmd, result, info=(), why=None):
        """Send information lines then the final result code, and log."""
        out = "".join(f"\r\n{i}\r\n" for i in info)
        out += f"\r\n{result}\r\n"
        if result != "OK":
            self.counters["errors"] += 1
        ev = {"cmd": cmd, "result": result}
        if why:
            ev["why"] = why
        # Logged before it is answered: a client holding the answer always
        # finds the line.
        self.event("at", **ev)
        self.write(out)

    def cme(self, cmd, code, why=None):
        if self.cmee == 0:
            return self.final(cmd, "ERROR", why=why or CME_TEXT.get(code))
        if self.cmee == 1:
            return self.final(cmd, f"+CME ERROR: {code}", why=why)
        return self.final(cmd, f"+CME ERROR: {CME_TEXT.get(code, 'unknown')}",
                          why=why)

    def cms(self, cmd, code, why=None):
        return self.final(cmd, f"+CMS ERROR: {code}", why=why)

    def reg_stat(self):
        return self.registration if self.pin_state == "READY" else 0

    # --- commands ------------------------------------------------------------
    def command(self, line):
        if not line:
            return
        self.counters["commands"] += 1
        shown = re.sub(r'(?i)^(AT\+CPIN=).*', r'\1"****"', line)
        if line[:2].upper() != "AT":
            return self.final(shown, "ERROR", why="not an AT command")
        body = line[2:]
        if not body.startswith("+"):
            return self.basic(shown, body.upper())
        m = re.fullmatch(r"\+([A-Za-z]+)(.*)", body, re.S)
        h = getattr(self, "cmd_" + m.group(1).upper(), None) if m else None
        if h is None:
            return self.final(shown, "ERROR", why="unknown command")
        h(shown, m.group(2))

    def basic(self, cmd, body):
        """A chain of basic commands (ATE0Q0V1): each a letter, or & and a
        letter, and an optional number.  All are checked before any is
        done."""
        toks = re.findall(r"(&?[A-Z])(\d*)", body)
        if "".join(a + n for a, n in toks) != body:
            return self.final(cmd, "ERROR", why="unknown command")
        allowed = {"E": ("0", "1"), "Q": ("0",), "V": ("1",), "Z": ("0",),
                   "I": ("0",), "&F": ("0",)}
        for a, n in toks:
            if a not in allowed or (n or "0") not in allowed[a]:
                return self.final(cmd, "ERROR",
                                  why=f"unknown or unsupported {a}{n}")
        info = []
        for a, n in toks:
            if a == "E":
                self.echo = (n or "0") == "1"
            elif a in ("Z", "&F"):
                self.reset_settings()
            elif a == "I":
                info += [self.a.manufacturer, self.a.model,
                         f"Revision: {self.a.revision}"]
        self.final(cmd, "OK", info)

    def sim_ready_cms(self, cmd):
        if self.pin_state == "SIM PIN":
            self.cms(cmd, 311, "SIM PIN required")
            return False
        if self.pin_state == "SIM PUK":
            self.cms(cmd, 316, "SIM PUK required")
            return False
        return True

    def simple(self, cmd, rest, value):
        if rest not in ("", "=?"):
            return self.final(cmd, "ERROR")
        self.final(cmd, "OK", [] if rest else [value])

    def cmd_CGMI(self, cmd, rest):
        self.simple(cmd, rest, self.a.manufacturer)

    def cmd_CGMM(self, cmd, rest):
        self.simple(cmd, rest, self.a.model)

    def cmd_CGMR(self, cmd, rest):
        self.simple(cmd, rest, self.a.revision)

    def cmd_CGSN(self, cmd, rest):
        self.simple(cmd, rest, self.imei)

    cmd_GMI, cmd_GMM, cmd_GMR, cmd_GSN = cmd_CGMI, cmd_CGMM, cmd_CGMR, cmd_CGSN

    def cmd_CIMI(self, cmd, rest):
        if self.pin_state != "READY":
            return self.cme(cmd, 11 if self.pin_state == "SIM PIN" else 12)
        self.simple(cmd, rest, self.imsi)

    def setting(self, cmd, rest, allowed, current, setter, name):
        """The common =n / ? / =? pattern."""
        if rest == "?":
            return self.final(cmd, "OK", [f"+{name}: {current}"])
        if rest == "=?":
            return self.final(cmd, "OK",
                              [f"+{name}: ({','.join(map(str, allowed))})"])
        if rest.startswith("=") and rest[1:].strip().isdigit() and \
                int(rest[1:]) in allowed:
            setter(int(rest[1:]))
            return self.final(cmd, "OK")
        return self.final(cmd, "ERROR", why="bad parameter")

    def cmd_CSCS(self, cmd, rest):
        # The TE character set matters in text mode only; kept and shown.
        if rest == "?":
            return self.final(cmd, "OK", [f'+CSCS: "{self.cscs}"'])
        if rest == "=?":
            return self.final(cmd, "OK", ['+CSCS: ("GSM","IRA","UCS2")'])
        m = re.fullmatch(r'="(GSM|IRA|UCS2)"', rest.upper())
        if not m:
            return self.cme(cmd, 4, "unsupported character set")
        self.cscs = m.group(1)
        self.final(cmd, "OK")

    def cmd_CSMS(self, cmd, rest):
        if rest == "?":
            return self.final(cmd, "OK", ["+CSMS: 0,1,1,1"])
        if rest == "=?":
            return self.final(cmd, "OK", ["+CSMS: (0,1)"])
        if rest in ("=0", "=1"):
            return self.final(cmd, "OK", ["+CSMS: 1,1,1"])
        self.cms(cmd, 304, "bad parameter")

    def cmd_CMEE(self, cmd, rest):
        self.setting(cmd, rest, (0, 1, 2), self.cmee,
                     lambda v: setattr(self, "cmee", v), "CMEE")

    def cmd_CMGF(self, cmd, rest):
        self.setting(cmd, rest, (0, 1), self.cmgf,
                     lambda v: setattr(self, "cmgf", v), "CMGF")

    def cmd_CREG(self, cmd, rest):
        if rest == "?":
            # with n=2 the location (lac, ci) follows, as TS 27.007 says
            loc = ',"1A2B","0C3D"' if self.creg_n == 2 else ""
            return self.final(cmd, "OK", [f"+CREG: {self.creg_n},"
                                          f"{self.reg_stat()}{loc}"])
        self.setting(cmd, rest, (0, 1, 2), self.creg_n,
                     lambda v: setattr(self, "creg_n", v), "CREG")

    def cmd_CSQ(self, cmd, rest):
        if rest == "=?":
            return self.final(cmd, "OK", ["+CSQ: (0-31,99),(0-7,99)"])
        if rest:
            return self.final(cmd, "ERROR")
        rssi = self.csq if self.reg_stat() in (1, 5) else 99
        self.final(cmd, "OK", [f"+CSQ: {rssi},99"])

    def cmd_COPS(self, cmd, rest):
        if rest == "?":
            if self.reg_stat() in (1, 5):
                return self.final(cmd, "OK",
                                  [f'+COPS: 0,0,"{self.operator}"'])
            return self.final(cmd, "OK", ["+COPS: 0"])
        if rest in ("=0", "=?", "=3,0", "=3,2"):
            return self.final(cmd, "OK")
        self.cme(cmd, 4)

    def cmd_CPIN(self, cmd, rest):
        if rest == "?":
            return self.final(cmd, "OK", [f"+CPIN: {self.pin_state}"])
        if rest == "=?":
            return self.final(cmd, "OK")
        m = re.fullmatch(r'="?([0-9]{4,8})"?(?:,"?([0-9]{4,8})"?)?', rest)
        if not m:
            return self.cme(cmd, 3, "bad PIN syntax")
        if self.pin_state == "READY":
            return self.cme(cmd, 3, "no PIN asked")
        if self.pin_state == "SIM PUK":
            if m.group(2) is None:
                return self.cme(cmd, 12, "SIM PUK required")
            if m.group(1) != self.a.puk:
                return self.cme(cmd, 16, "wrong PUK")
            self.pin = m.group(2)
            self.pin_state = "READY"
            self.pin_tries = 3
            return self.final(cmd, "OK")
        if m.group(1) != self.pin:
            self.pin_tries -= 1
            if self.pin_tries <= 0:
                self.pin_state = "SIM PUK"
            return self.cme(cmd, 16, f"wrong PIN, {self.pin_tries} "
                            "tries left")
        self.pin_state = "READY"
        self.pin_tries = 3
        self.final(cmd, "OK")

    def cmd_CSCA(self, cmd, rest):
        if rest == "?":
            t = 145 if self.smsc.startswith("+") else 129
            return self.final(cmd, "OK", [f'+CSCA: "{self.smsc}",{t}'])
        m = re.fullmatch(r'="(\+?[0-9]{1,20})"(?:,(129|145))?', rest)
        if not m:
            return self.cms(cmd, 304, "bad SMSC number")
        self.smsc = m.group(1)
        self.final(cmd, "OK")

    def cmd_CNMI(self, cmd, rest):
        if rest == "?":
            return self.final(cmd, "OK", ["+CNMI: " +
                                          ",".join(map(str, self.cnmi))])
        if rest == "=?":
            return self.final(cmd, "OK", ["+CNMI: (0-3),(0-3),(0,2),(0-2),"
                                          "(0,1)"])
        m = re.fullmatch(r"=(\d)(?:,(\d)(?:,(\d)(?:,(\d)(?:,(\d))?)?)?)?",
                         rest)
        if not m:
            return self.cms(cmd, 304, "bad parameters")
        vals = [int(v) if v is not None else 0 for v in m.groups()]
        if vals[0] > 3 or vals[1] > 3 or vals[2] > 3 or vals[3] > 2 or \
                vals[4] > 1:
            return self.cms(cmd, 304, "bad parameters")
        if vals[1] in (2, 3):
            return self.cms(cmd, 303, "routing messages to the terminal "
                            "(+CMT) is not supported")
        self.cnmi = vals
        self.final(cmd, "OK")

    def cpms_counts(self):
        used = len(self.store)
        return used, SLOTS

    def cmd_CPMS(self, cmd, rest):
        if not self.sim_ready_cms(cmd):
            return
        used, total = self.cpms_counts()
        if rest == "?":
            return self.final(cmd, "OK", [
                f'+CPMS: "SM",{used},{total},"SM",{used},{total},'
                f'"SM",{used},{total}'])
        if rest == "=?":
            return self.final(cmd, "OK", ['+CPMS: ("SM"),("SM"),("SM")'])
        m = re.fullmatch(r'="([A-Z]{2})"(?:,"([A-Z]{2})"(?:,"([A-Z]{2})")?)?',
                         rest.upper())
        if not m or any(g not in (None, "SM", "ME", "MT") for g in m.groups()):
            return self.cms(cmd, 302, "only SM storage")
        n = len([g for g in m.groups() if g])
        self.final(cmd, "OK", ["+CPMS: " + ",".join(
            f"{used},{total}" for _ in range(max(n, 3)))])

    def cmd_CMGS(self, cmd, rest):
        if rest == "=?":
            return self.final(cmd, "OK")
        if not self.sim_ready_cms(cmd):
            return
        if self.cmgf != 0:
            return self.cms(cmd, 302, "text mode sending is not supported")
        m = re.fullmatch(r"=(\d{1,3})", rest)
        if not m or not 1 <= int(m.group(1)) <= MAX_TPDU:
            return self.cms(cmd, 304, "bad length")
        self.pdu_len = int(m.group(1))
        self.pdu = bytearray()
        self.pdu_overlong = False
        self.mode = "pdu"
        self.event("at", cmd=cmd, result=None, prompt=True)
        if self.urc_after_prompt > 0:
            # a network event right behind the prompt, in the same write
            self.urc_after_prompt -= 1
            self.write(f"\r\n> \r\n+CREG: {self.reg_stat()}\r\n")
        else:
            self.write("\r\n> ")

    def end_pdu(self):
        cmd = f"<PDU {self.pdu_len}>"
        hexpdu = self.pdu.decode("latin-1")
        if self.pdu_overlong:
            return self.cms(cmd, 304, "PDU longer than the line limit")
        try:
            p = decode_submit(hexpdu, self.pdu_len)
        except PduError as e:
            return self.cms(cmd, 304, str(e))
        if self.reg_stat() not in (1, 5):
            return self.cms(cmd, 331, "not registered")
        fired = []
        for r in self.rules:
            if r.left == 0 or (r.match is not None and
                               not r.match.search(p["to"])):
                continue
            if r.left > 0:
                r.left -= 1
            r.fired += 1
            fired.append(r)
            self.counters["faults"] += 1
            self.event("fault", action=r.action, rule=r.spec, to=p["to"])
            if r.action == "delay":
                # The serving thread sleeps: the modem is busy, as one is
                # while the network takes its time; input waits in the pty.
                self.lock.release()
                try:
                    self.stop.wait(r.seconds)
                finally:
                    self.lock.acquire()
                continue
            break
        act = fired[-1] if fired and fired[-1].action != "delay" else None
        if act is not None:
            if act.action == "cms_error":
                return self.cms(cmd, act.code, "fault rule")
            if act.action == "silent":
                return self.event("at", cmd=cmd, result=None,
                                  why="fault rule: silent")
            if act.action == "drop_after_prompt":
                self.mode = "stuck"
                return self.event("at", cmd=cmd, result=None,
                                  why="fault rule: stuck at the prompt")
        self.mr = (self.mr + 1) % 256
        mr = self.mr
        self.record_part(p, hexpdu, mr)
        if act is not None and act.action == "lost_answer":
            return self.event("at", cmd=cmd, result=None,
                              why="fault rule: sent, answer lost")
        self.final(cmd, "OK", [f"+CMGS: {mr}"])

    def record_part(self, p, hexpdu, mr):
        c = p["concat"]
        ref, total, seq, ref16 = c if c else (None, 1, 1, False)
        self.counters["parts"] += 1
        self.event("part", to=p["to"], smsc=p["smsc"], ref=ref, ref16=ref16,
                   total=total, seq=seq, dcs=p["dcs"], text=p["text"],
                   pdu=hexpdu, mr=mr,
                   vp=p["vp"], pid=p["pid"], srr=p["srr"], rd=p["rd"],
                   udh=p["udh"], warnings=p["warnings"])
        key = (p["to"], ref, total, ref16)
        parts = self.concat.setdefault(key, {})
        warnings = []
        if seq in parts:
            warnings.append(f"part {seq} came again; the last one is kept")
        parts[seq] = dict(p, mr=mr)
        if len(parts) < total:
            return
        del self.concat[key]
        ordered = [parts[s] for s in range(1, total + 1)]
        dcss = {q["dcs"] for q in ordered}
        if len(dcss) == 1 and 0 in dcss:
            units = [u for q in ordered for u in q["units"]]
            text = septets_text(units, warnings)
        elif len(dcss) == 1:
            text = ucs2_text(b"".join(bytes(q["units"]) for q in ordered),
                             warnings)
        else:
            warnings.append("parts of different DCS")
            text = "".join(q["text"] for q in ordered)
        self.counters["sms"] += 1
        self.event("sms", to=p["to"], text=text, parts=total,
                   dcs=ordered[0]["dcs"], ref=ref,
                   mrs=[q["mr"] for q in ordered], warnings=warnings)

    def index_arg(self, s):
        return int(s) if s.isdigit() and 1 <= int(s) <= SLOTS else None

    def cmd_CMGR(self, cmd, rest):
        if rest == "=?":
            return self.final(cmd, "OK")
        if not self.sim_ready_cms(cmd):
            return
        if self.cmgf != 0:
            return self.cms(cmd, 302, "text mode reading is not supported")
        i = self.index_arg(rest[1:]) if rest.startswith("=") else None
        if i is None:
            return self.cms(cmd, 321, "invalid index")
        msg = self.store.get(i)
        if msg is None:
            return self.cms(cmd, 321, "empty index")
        stat = msg["stat"]
        if stat == 0:
            msg["stat"] = 1
        self.event("read", index=i, by="CMGR")
        self.final(cmd, "OK", [f"+CMGR: {stat},,{msg['tplen']}\r\n"
                               f"{msg['pdu']}"])

    def cmd_CMGL(self, cmd, rest):
        if rest == "=?":
            return self.final(cmd, "OK", ["+CMGL: (0-4)"])
        if not self.sim_ready_cms(cmd):
            return
        if self.cmgf != 0:
            return self.cms(cmd, 302, "text mode listing is not supported")
        if rest == "":
            stat = 0
        elif re.fullmatch(r"=[0-4]", rest):
            stat = int(rest[1])
        else:
            return self.cms(cmd, 304, "bad stat")
        info = []
        for i in sorted(self.store):
            msg = self.store[i]
            if stat != 4 and msg["stat"] != stat:
                continue
            info.append(f"+CMGL: {i},{msg['stat']},,{msg['tplen']}\r\n"
                        f"{msg['pdu']}")
            if msg["stat"] == 0:
                msg["stat"] = 1
            self.event("read", index=i, by="CMGL")
        self.final(cmd, "OK", info)

    def cmd_CMGD(self, cmd, rest):
        if rest == "=?":
            return self.final(cmd, "OK", ["+CMGD: (1-30),(0-4)"])
        if not self.sim_ready_cms(cmd):
            return
        m = re.fullmatch(r"=(\d{1,3})(?:,([0-4]))?", rest)
        if not m:
            return self.cms(cmd, 304, "bad parameters")
        flag = int(m.group(2) or 0)
        i = self.index_arg(m.group(1))
        if flag == 0:
            if i is None:
                return self.cms(cmd, 321, "invalid index")
            victims = [i] if i in self.store else []
        else:
            stats = {1: (1,), 2: (1, 3), 3: (1, 2, 3), 4: (0, 1, 2, 3)}[flag]
            victims = [k for k, v in self.store.items() if v["stat"] in stats]
        for k in sorted(victims):
            del self.store[k]
            self.event("delete", index=k)
        self.final(cmd, "OK")

    # --- control -----------------------------------------------------------
    def snapshot(self):
        return {"device": self.device, "pty": self.slave_path,
                "state": {"registration": self.registration,
                          "pin": self.pin_state, "csq": self.csq,
                          "operator": self.operator, "smsc": self.smsc,
                          "echo": self.echo, "cmee": self.cmee,
                          "cmgf": self.cmgf, "cnmi": self.cnmi,
                          "creg": self.creg_n, "mode": self.mode,
                          "mr": self.mr},
                "rules": [r.public() for r in self.rules],
                "counters": dict(self.counters),
                "pending_parts": sum(len(v) for v in self.concat.values()),
                "store": [{"index": i, "stat": m["stat"], "from": m["from"],
                           "text": m["text"]}
                          for i, m in sorted(self.store.items())]}

    def control(self, cmd):
        if not isinstance(cmd, dict):
            raise RuleError("expected a JSON object")
        unknown = set(cmd) - {"get", "reset", "rules", "add", "state",
                              "inbound"}
        if unknown:
            raise RuleError(f"unknown keys {sorted(unknown)}")
        new_rules = rules_of(cmd["rules"]) if "rules" in cmd else None
        add = rules_of(cmd["add"]) if "add" in cmd else None
        st = cmd.get("state")
        if st is not None:
            if not isinstance(st, dict) or set(st) - {
                    "registration", "pin", "csq", "operator",
                    "urc_after_prompt"}:
                raise RuleError("state takes registration, pin, csq, "
                                "operator, urc_after_prompt")
            if "urc_after_prompt" in st and (
                    not isinstance(st["urc_after_prompt"], int) or
                    not 0 <= st["urc_after_prompt"] <= 1000):
                raise RuleError("urc_after_prompt must be 0..1000")
            if "registration" in st and st["registration"] not in REG_STATES:
                raise RuleError(f"registration must be one of {REG_STATES}")
            if "pin" in st and st["pin"] not in PIN_STATES:
                raise RuleError(f"pin must be one of {PIN_STATES}")
            if "csq" in st and (not isinstance(st["csq"], int) or
                                not (0 <= st["csq"] <= 31 or st["csq"] == 99)):
                raise RuleError("csq must be 0..31 or 99")
            if "operator" in st and (not isinstance(st["operator"], str) or
                                     '"' in st["operator"] or
                                     len(st["operator"]) > 32):
                raise RuleError("operator must be a short string")
        inb = cmd.get("inbound")
        pdus = None
        with self.lock:
            if inb is not None:
                if not isinstance(inb, dict) or set(inb) - {"from", "text",
                                                            "dcs", "pid"}:
                    raise RuleError("inbound takes from, text, dcs, pid")
                frm, text = inb.get("from"), inb.get("text")
                if not isinstance(frm, str) or not isinstance(text, str):
                    raise RuleError("inbound needs from and text strings")
                pid = inb.get("pid", 0)
                if not isinstance(pid, int) or not 0 <= pid <= 255:
                    raise RuleError("pid must be 0..255")
                self.inbound_ref = (self.inbound_ref + 1) % 256
                try:
                    pdus, dcs_name = deliver_pdus(self.smsc, frm, text,
                                                  inb.get("dcs"), pid,
                                                  self.inbound_ref)
                except ValueError as e:
                    raise RuleError(str(e))
                free = [i for i in range(1, SLOTS + 1) if i not in self.store]
                if len(free) < len(pdus):
                    self.event("inbound_refused", **{"from": frm},
                               text=text, why="memory full")
                    return {"ok": False, "error": "memory full", "cms": 322}
            rules = self.rules
            if cmd.get("reset"):
                rules = []
            if new_rules is not None:
                rules = new_rules
            if add is not None:
                rules = rules + add
            self.rules = rules
            if st:
                before = self.reg_stat()
                if "pin" in st:
                    self.pin_state = st["pin"]
                    self.pin_tries = 3
                for k in ("registration", "csq", "operator",
                          "urc_after_prompt"):
                    if k in st:
                        setattr(self, k, st[k])
                self.event("state", **st)
                after = self.reg_stat()
                if after != before and self.creg_n:
                    self.write(f"\r\n+CREG: {after}\r\n")
            indexes = []
            if pdus:
                for pdu, tplen, total, seq in pdus:
                    i = min(k for k in range(1, SLOTS + 1)
                            if k not in self.store)
                    self.store[i] = {"stat": 0, "pdu": pdu.hex().upper(),
                                     "tplen": tplen, "from": frm,
                                     "text": text}
                    indexes.append(i)
                    self.counters["inbound"] += 1
                    self.event("inbound", **{"from": frm}, text=text,
                               index=i, dcs=dcs_name,
                               pdu=pdu.hex().upper(),
                               ref=self.inbound_ref if total > 1 else None,
                               total=total, seq=seq)
                    if self.cnmi[0] in (1, 2, 3) and self.cnmi[1] == 1:
                        self.write(f'\r\n+CMTI: "SM",{i}\r\n')
            snap = self.snapshot()
            snap["ok"] = True
            if indexes:
                snap["inbound"] = indexes
            return snap


# --- serving -----------------------------------------------------------------

def serve_pty(modem):
    while not modem.stop.is_set():
        try:
            r, _, _ = select.select([modem.master], [], [], 0.1)
        except InterruptedError:
            continue
        if not r:
            continue
        try:
            data = os.read(modem.master, 4096)
        except BlockingIOError:
            continue
        except OSError as e:
            if e.errno == errno.EIO:
                # No slave open: cannot happen while the modem holds one,
                # but a pty may say so for a moment on some kernels.
                time.sleep(0.05)
                continue
            raise
        if data:
            try:
                modem.feed(data)
            except Exception:
                # A fault of the modem itself: said loudly, and the modem
                # goes on serving in command mode.
                log("error in the modem itself:\n" + traceback.format_exc())
                with modem.lock:
                    modem.mode = "command"
                    modem.event("internal_error")
                    modem.write("\r\nERROR\r\n")


def serve_control_conn(modem, conn):
    with conn:
        buf = b""
        while not modem.stop.is_set():
            try:
                chunk = conn.recv(4096)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            if len(buf) > MAX_CONTROL_LINE and b"\n" not in buf:
                conn.sendall(b'{"ok": false, "error": "line too long"}\n')
                return
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if not line.strip():
                    continue
                try:
                    cmd = json.loads(line.decode("utf-8"))
                    ans = modem.control(cmd)
                except (ValueError, RuleError) as e:
                    log(f"control refused: {e}")
                    ans = {"ok": False, "error": str(e)}
                conn.sendall(json.dumps(ans).encode("ascii") + b"\n")


def serve_control(modem, sock):
    while not modem.stop.is_set():
        try:
            r, _, _ = select.select([sock], [], [], 0.1)
        except InterruptedError:
            continue
        if not r:
            continue
        try:
            conn, _ = sock.accept()
        except OSError:
            continue
        threading.Thread(target=serve_control_conn, args=(modem, conn),
                         daemon=True).start()


def fault_arg(text):
    try:
        spec = json.loads(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"--fault is not JSON: {e}")
    try:
        return rules_of(spec if isinstance(spec, list) else [spec])
    except RuleError as e:
        raise argparse.ArgumentTypeError(f"bad --fault {text!r}: {e}")


def parse_args(argv):
    p = argparse.ArgumentParser(description="GSM modem (AT commands, PDU "
                                "mode SMS) on a pty, for tocsin's tests")
    p.add_argument("--link", help="make this symlink to the pty's slave "
                   "(replaced if it is a symlink already)")
    p.add_argument("--ready-file", help="written (JSON) once serving")
    p.add_argument("--control", help="the control socket's path (default: "
                   "in a fresh folder under /tmp)")
    p.add_argument("--log", help="JSON lines, one per event")
    p.add_argument("--pin", help="the SIM asks this PIN (4 to 8 digits) "
                   "before it serves; default: no PIN")
    p.add_argument("--puk", default="12345678",
                   help="the PUK (default 12345678)")
    p.add_argument("--registration", type=int, default=1, choices=REG_STATES,
                   help="+CREG stat at start (default 1, home)")
    p.add_argument("--csq", type=int, default=20)
    p.add_argument("--operator", default="Tocsin Net")
    p.add_argument("--smsc", default="+254700099999")
    p.add_argument("--imei", default="356938035643809")
    p.add_argument("--imsi", default="639020000000001")
    p.add_argument("--manufacturer", default="TOCSIN")
    p.add_argument("--model", default="GSM-EMU")
    p.add_argument("--revision", default="1.0")
    p.add_argument("--fault", action="append", default=[], type=fault_arg,
                   metavar="JSON", help="a fault rule, or a list of them "
                   "(repeatable, tried in order)")
    a = p.parse_args(argv)
    if a.pin is not None and not re.fullmatch(r"[0-9]{4,8}", a.pin):
        p.error("--pin must be 4 to 8 digits")
    if not re.fullmatch(r"\+?[0-9]{1,20}", a.smsc):
        p.error("--smsc must be a number")
    if '"' in a.operator:
        p.error("--operator must not hold a double quote")
    return a


def send_control(ready_file, text):
    """--send: one command to a running modem found by its ready file."""
    with open(ready_file, encoding="utf-8") as f:
        path = json.load(f)["control"]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as so:
        so.settimeout(10)
        so.connect(path)
        so.sendall(text.strip().encode("utf-8") + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = so.recv(65536)
            if not chunk:
                break
            buf += chunk
    ans = json.loads(buf)
    print(json.dumps(ans, indent=1, ensure_ascii=False))
    return 0 if ans.get("ok") else 1


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--send"]:
        if len(argv) != 3:
            sys.stderr.write("usage: gsm_modem.py --send READY_FILE JSON\n")
            return 2
        return send_control(argv[1], argv[2])
    a = parse_args(argv)
    rules = [r for group in a.fault for r in group]
    logfile = open(a.log, "a", encoding="utf-8") if a.log else None

    sigs = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, sigs)

    master, slave = os.openpty()
    # Raw: no echo, no line editing, no CR/LF translation by the pty; the
    # modem is the one that echoes.  The modem keeps this descriptor of the
    # slave open, so that a client closing the device is no hang-up.
    tty.setraw(slave)
    slave_path = os.ttyname(slave)
    fl = fcntl.fcntl(master, fcntl.F_GETFL)
    fcntl.fcntl(master, fcntl.F_SETFL, fl | os.O_NONBLOCK)
    device = slave_path
    if a.link:
        if os.path.islink(a.link):
            os.unlink(a.link)
        try:
            os.symlink(slave_path, a.link)
        except OSError as e:
            log(f"cannot make the link {a.link}: {e}")
            return 2
        device = a.link

    tmpdir = None
    control_path = a.control
    if control_path is None:
        tmpdir = tempfile.mkdtemp(prefix="gsm-", dir="/tmp")
        control_path = os.path.join(tmpdir, "control")
    if len(control_path.encode()) > 100:
        log(f"control socket path too long: {control_path}")
        return 2
    old = os.umask(0o077)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.unlink(control_path)
    except FileNotFoundError:
        pass
    sock.bind(control_path)
    os.umask(old)
    sock.listen(8)

    modem = Modem(a, master, device, slave_path, control_path, logfile, rules)
    threads = [threading.Thread(target=serve_pty, args=(modem,), daemon=True),
               threading.Thread(target=serve_control, args=(modem, sock),
                                daemon=True)]
    for t in threads:
        t.start()
    if a.ready_file:
        write_atomic(a.ready_file, (json.dumps(
            {"device": device, "pty": slave_path, "control": control_path,
             "pid": os.getpid()}) + "\n").encode())
    print(f"gsm_modem serving {device}", flush=True)
    log(f"serving {device} ({slave_path}), control {control_path}, "
        f"{'PIN asked' if a.pin else 'no PIN'}, registration "
        f"{a.registration}, {len(rules)} fault rule(s)")

    signal.sigwait(sigs)
    log("stopping")
    modem.stop.set()
    for t in threads:
        t.join(timeout=1)
    sock.close()
    try:
        os.unlink(control_path)
    except FileNotFoundError:
        pass
    if tmpdir:
        shutil.rmtree(tmpdir, ignore_errors=True)
    if a.link and os.path.islink(a.link) and \
            os.readlink(a.link) == slave_path:
        os.unlink(a.link)
    with modem.lock:
        if logfile is not None:
            modem.logfile = None
            logfile.close()
    os.close(slave)
    os.close(master)
    return 0


if __name__ == "__main__":
    sys.exit(main())
