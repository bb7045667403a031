"""The GSM modem test peer itself, driven over its pty as a client would.

These tests prove the modem (tests/peers/gsm_modem.py) and its helper
(gsmmodem.py) before the SMS channel's tests rely on them: the AT
handshake, SMS-SUBMIT PDUs in GSM 7-bit (with the extension table), UCS-2
(Arabic, Chinese, a character outside the BMP) and concatenated with 8-bit
and 16-bit references, each built by the small encoder below (written apart
from the peer's decoder, sharing no code with it) and checked to come out as
the exact text (24 random messages too); the SIM PIN and PUK, the
registration, the fault rules, inbound messages read back (by the test's
own SMS-DELIVER decoder) and deleted, malformed input, bytes dribbled in
pieces, a client that closes and reopens the device and one that never
reads.  They do not need the tocsin binary (the conftest beside them asks
for it all the same).
"""
import json
import os
import random
import re
import select
import socket
import stat
import subprocess
import termios
import time
import tty

import pytest

from gsmmodem import PEER, PYTHON, GsmModem

TIMEOUT = 5
TO = "+41790000001"
KE = "+254700000001"

# --- a client of the modem -------------------------------------------------


class Client:
    """The pty opened as a driver would: raw, 115200 baud, input flushed."""

    def __init__(self, device):
        self.fd = os.open(device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)
        attrs = termios.tcgetattr(self.fd)
        attrs[4] = attrs[5] = termios.B115200
        termios.tcsetattr(self.fd, termios.TCSANOW, attrs)
        termios.tcflush(self.fd, termios.TCIFLUSH)
        self.buf = b""

    def close(self):
        os.close(self.fd)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        while data:
            select.select([], [self.fd], [], TIMEOUT)
            n = os.write(self.fd, data)
            data = data[n:]

    def read_until(self, pattern, timeout=TIMEOUT):
        """Bytes up to the end of the first match of the regex pattern
        (bytes); what follows stays buffered.  None on timeout."""
        rx = re.compile(pattern, re.S)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.buf)
            if m:
                out, self.buf = self.buf[:m.end()], self.buf[m.end():]
                return out
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    self.buf += os.read(self.fd, 4096)
                except BlockingIOError:
                    pass

    def final(self, timeout=TIMEOUT):
        """Up to and including a final result code; None on timeout."""
        return self.read_until(rb"\r\n(OK|ERROR|\+CM[ES] ERROR: [^\r]*)\r\n",
                               timeout)

    def at(self, cmd, timeout=TIMEOUT):
        """Send a command line; (information lines, final result code)."""
        self.send(cmd + "\r")
        out = self.final(timeout)
        assert out is not None, f"no answer to {cmd!r}; buffered {self.buf!r}"
        lines = [x for x in out.decode("latin-1").split("\r\n") if x]
        return lines[:-1], lines[-1]

    def quiet(self, seconds):
        """Whatever arrives within seconds (b"" when nothing does)."""
        self.read_until(rb"(?!)", seconds)
        out, self.buf = self.buf, b""
        return out

    def send_pdu(self, hexpdu, tpdu_len, timeout=TIMEOUT):
        """AT+CMGS and the PDU; the final result code's lines."""
        self.send(f"AT+CMGS={tpdu_len}\r")
        assert self.read_until(rb"\r\n> ", timeout) is not None, self.buf
        self.send(hexpdu + "\x1a")
        out = self.final(timeout)
        assert out is not None, f"no answer to the PDU; buffered {self.buf!r}"
        return [x for x in out.decode("latin-1").split("\r\n") if x]


# --- an SMS-SUBMIT encoder and an SMS-DELIVER decoder, the test's own -------

BASIC = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;"
         "<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
EXTENSION = [("\f", 10), ("^", 20), ("{", 40), ("}", 41), ("\\", 47),
             ("[", 60), ("~", 61), ("]", 62), ("|", 64), ("€", 101)]


def to_septets(text):
    ext = dict(EXTENSION)
    out = []
    for ch in text:
        if ch in ext:
            out.extend([27, ext[ch]])
        else:
            k = BASIC.index(ch)
            assert k != 27
            out.append(k)
    return out


def pack7(septets, pad_bits=0):
    """Septets packed LSB first after pad_bits zero bits, as a bit string."""
    bits = "0" * pad_bits + "".join(format(s, "07b")[::-1] for s in septets)
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[i:i + 8][::-1], 2) for i in range(0, len(bits), 8))


def unpack7(data, count, pad_bits=0):
    bits = "".join(format(b, "08b")[::-1] for b in data)[pad_bits:]
    return [int(bits[7 * k:7 * k + 7][::-1], 2) for k in range(count)]


def from_septets(septets):
    ext = {v: c for c, v in EXTENSION}
    out, esc = "", False
    for s in septets:
        if esc:
            out += ext[s]
            esc = False
        elif s == 27:
            esc = True
        else:
            out += BASIC[s]
    return out


def address(number):
    digits = number.lstrip("+")
    nibbles = digits + "F" * (len(digits) % 2)
    swapped = "".join(nibbles[i + 1] + nibbles[i]
                      for i in range(0, len(nibbles), 2))
    kind = "91" if number.startswith("+") else "81"
    return f"{len(digits):02X}{kind}{swapped}"


def submit(to, units, ucs2=False, concat=None, vp="A7", smsc="00",
           first=None, vpf=2):
    """(hex PDU with the SMSC part, TPDU length) of an SMS-SUBMIT.  units:
    septets, or UCS-2 bytes when ucs2.  concat: (ref, total, seq, wide).
    vp: the validity period's hex, in the format vpf (2 relative, 3
    absolute, 1 enhanced)."""
    udh = b""
    if concat:
        ref, total, seq, wide = concat
        if wide:
            udh = bytes([6, 8, 4, ref >> 8, ref & 255, total, seq])
        else:
            udh = bytes([5, 0, 3, ref, total, seq])
    if ucs2:
        ud = udh + bytes(units)
        udl = len(ud)
    else:
        pad = (7 - len(udh) * 8 % 7) % 7 if udh else 0
        ud = udh + pack7(units, pad)
        udl = (len(udh) * 8 + pad) // 7 + len(units)
    fo = 0x01 | (vpf << 3 if vp else 0) | (0x40 if udh else 0)
    if first is not None:
        fo = first
    tpdu = (f"{fo:02X}00" + address(to) + "00" + ("08" if ucs2 else "00")
            + (vp or "") + f"{udl:02X}" + ud.hex().upper())
    return smsc + tpdu, len(tpdu) // 2


def gsm_pdu(to, text, **kw):
    return submit(to, to_septets(text), **kw)


def ucs2_pdu(to, text, **kw):
    return submit(to, text.encode("utf-16-be"), ucs2=True, **kw)


def parse_deliver(hexpdu):
    """(from, text, total, seq) of an SMS-DELIVER with its SMSC part."""
    b = bytes.fromhex(hexpdu)
    p = 1 + b[0]
    fo = b[p]
    assert fo & 3 == 0, "not an SMS-DELIVER"
    n, kind = b[p + 1], b[p + 2]
    raw = b[p + 3:p + 3 + (n + 1) // 2].hex().upper()
    digits = "".join(raw[i + 1] + raw[i] for i in range(0, len(raw), 2))[:n]
    number = ("+" if kind == 0x91 else "") + digits
    p += 3 + (n + 1) // 2
    dcs = b[p + 1]
    p += 2 + 7                      # PID, DCS, SCTS
    udl, ud = b[p], b[p + 1:]
    total = seq = 1
    skip = 0
    if fo & 0x40:
        hl = ud[0]
        assert ud[1] == 0 and ud[2] == 3
        total, seq = ud[4], ud[5]
        skip = hl + 1
    if dcs == 0x08:
        assert len(ud) == udl
        return number, ud[skip:].decode("utf-16-be"), total, seq
    assert dcs == 0
    hsept = -(-skip * 8 // 7)
    sept = unpack7(ud, udl, 0)[hsept:] if not skip else \
        unpack7(ud, udl - hsept, hsept * 7)
    return number, from_septets(sept), total, seq


def test_encoder_known_vectors():
    # 3GPP TS 23.038's classic example and the widely quoted one.
    assert pack7(to_septets("hellohello")).hex().upper() == \
        "E8329BFD4697D9EC37"
    assert pack7(to_septets("hello")).hex().upper() == "E8329BFD06"
    assert from_septets(unpack7(bytes.fromhex("E8329BFD4697D9EC37"), 10)) \
        == "hellohello"
    assert address("+41790000001") == "0B911497000000F1"


# --- fixtures --------------------------------------------------------------

@pytest.fixture
def modem(tmp_path):
    with GsmModem(tmp_path) as m:
        yield m


def connect(m, echo_off=True):
    c = Client(m.device)
    if echo_off:
        # The modem echoes this line still.
        c.send("ATE0\r")
        assert c.final() == b"ATE0\r\r\nOK\r\n"
    return c


@pytest.fixture
def client(modem):
    c = connect(modem)
    yield c
    c.close()


def sent(modem, count):
    return modem.wait_events("sms", count)


# --- tests -----------------------------------------------------------------

def test_handshake(modem):
    info = json.loads(modem.ready.read_text())
    assert info["device"] == str(modem.link) and info["pid"] == modem.proc.pid
    assert os.readlink(modem.link) == info["pty"]
    assert info["pty"].startswith("/dev/pts/")
    mode = os.stat(info["control"]).st_mode
    assert stat.S_ISSOCK(mode) and mode & 0o077 == 0
    c = Client(modem.device)
    # Echo is on at first, as in a real modem: the command comes back.
    c.send("AT\r")
    assert c.final() == b"AT\r\r\nOK\r\n"
    c.send("ATE0\r")
    assert c.final() == b"ATE0\r\r\nOK\r\n"
    c.send("AT\r")
    assert c.final() == b"\r\nOK\r\n"
    assert c.at("AT+CMEE=1") == ([], "OK")
    assert c.at("AT+CMEE?") == (["+CMEE: 1"], "OK")
    assert c.at("AT+CGMI") == (["TOCSIN"], "OK")
    assert c.at("AT+CGMM") == (["GSM-EMU"], "OK")
    assert c.at("AT+CGMR") == (["1.0"], "OK")
    assert c.at("AT+CGSN") == (["356938035643809"], "OK")
    assert c.at("AT+CPIN?") == (["+CPIN: READY"], "OK")
    assert c.at("AT+CREG?") == (["+CREG: 0,1"], "OK")
    assert c.at("AT+CSQ") == (["+CSQ: 20,99"], "OK")
    assert c.at("AT+COPS?") == (['+COPS: 0,0,"Tocsin Net"'], "OK")
    assert c.at("AT+CMGF=0") == ([], "OK")
    assert c.at("AT+CMGF?") == (["+CMGF: 0"], "OK")
    assert c.at("AT+CSCA?") == (['+CSCA: "+254700099999",145'], "OK")
    assert c.at("AT+CNMI=2,1,0,0,0") == ([], "OK")
    assert c.at("AT+CNMI?") == (["+CNMI: 2,1,0,0,0"], "OK")
    assert c.at('AT+CPMS="SM","SM","SM"') == (["+CPMS: 0,30,0,30,0,30"], "OK")
    assert c.at("AT+CPMS?") == (['+CPMS: "SM",0,30,"SM",0,30,"SM",0,30'],
                                "OK")
    assert c.at("AT+CMEE=7") == ([], "ERROR")
    assert c.at("AT+FOO") == ([], "ERROR")
    assert c.at("ATX") == ([], "ERROR")
    assert c.at("hello") == ([], "ERROR")
    assert c.at("ATQ0V1E0") == ([], "OK")
    assert c.at("ATV0") == ([], "ERROR")
    assert c.at("ATE0X") == ([], "ERROR")
    assert c.at("ATI") == (["TOCSIN", "GSM-EMU", "Revision: 1.0"], "OK")
    assert c.at('AT+CSCS="GSM"') == ([], "OK")
    assert c.at("AT+CSCS?") == (['+CSCS: "GSM"'], "OK")
    assert c.at("AT+CSMS?") == (["+CSMS: 0,1,1,1"], "OK")
    assert c.at("at+cmgf?") == (["+CMGF: 0"], "OK")
    # ATZ restores echo on (for the lines after it).
    assert c.at("ATZ") == ([], "OK")
    c.send("AT\r")
    assert c.final() == b"AT\r\r\nOK\r\n"
    c.send("ATE0\r")
    assert c.final() == b"ATE0\r\r\nOK\r\n"
    assert c.at("AT&F") == ([], "OK")
    c.send("AT\r")
    assert c.final() == b"AT\r\r\nOK\r\n"
    c.close()
    # Every command line is in the log, in order.
    cmds = [e["cmd"] for e in modem.events("at")]
    assert cmds[:4] == ["AT", "ATE0", "AT", "AT+CMEE=1"]
    assert cmds[-5:] == ["ATZ", "AT", "ATE0", "AT&F", "AT"]


def test_single_gsm7_message(modem, client):
    text = "Alert 42: rotate keys @ 12:00, see ops/runbook #7 $ok"
    hexpdu, n = gsm_pdu(TO, text)
    assert client.send_pdu(hexpdu, n) == ["+CMGS: 1", "OK"]
    hexpdu2, n2 = gsm_pdu(TO, "second", vp=None)
    assert client.send_pdu(hexpdu2, n2) == ["+CMGS: 2", "OK"]
    [s1, s2] = sent(modem, 2)
    assert (s1["to"], s1["text"], s1["parts"], s1["dcs"]) == (TO, text, 1, 0)
    assert s1["mrs"] == [1] and s1["warnings"] == []
    assert s2["text"] == "second" and s2["mrs"] == [2]
    [p1, p2] = modem.events("part")
    assert p1["pdu"] == hexpdu and p1["mr"] == 1 and p1["smsc"] is None
    assert (p1["ref"], p1["total"], p1["seq"]) == (None, 1, 1)
    assert p1["vp"] == {"format": "relative", "octets": "A7",
                        "seconds": 86400}
    assert p2["vp"] is None


def test_smsc_given_in_the_pdu(modem, client):
    smsc = "07" + address("+254700099999")[2:]
    hexpdu, n = gsm_pdu(TO, "via SMSC", smsc=smsc)
    assert client.send_pdu(hexpdu, n)[-1] == "OK"
    [p] = modem.wait_events("part", 1)
    assert (p["smsc"], p["text"]) == ("+254700099999", "via SMSC")


def test_extension_characters(modem, client):
    text = "€ [x] {y} \\z ^a ~b |c ÆØÅ æøå ΔΦΓΛΩΠΨΣΘΞ ¡¿ §¤ àéèùìò\f"
    hexpdu, n = gsm_pdu("0791234567", text)
    assert client.send_pdu(hexpdu, n)[-1] == "OK"
    [s] = sent(modem, 1)
    assert s["text"] == text and s["to"] == "0791234567"


@pytest.mark.parametrize("text", [
    "تنبيه: تم اختراق بيانات الاعتماد، غيّر كلمات المرور",
    "警报：注册商凭据泄露，请立即更换密码。😀",
])
def test_ucs2_message(modem, client, text):
    hexpdu, n = ucs2_pdu(KE, text)
    assert client.send_pdu(hexpdu, n)[-1] == "OK"
    [s] = sent(modem, 1)
    assert (s["to"], s["text"], s["dcs"], s["parts"]) == (KE, text, 8, 1)
    assert modem.events("part")[0]["text"] == text


def test_concatenated_gsm7_three_parts(modem, client):
    words = "Incident 7731: the registry's EPP endpoint refuses logins; " \
            "rotate the credentials of every registrar [ops] now. "
    text = (words * 8)[:153 * 2 + 90]
    sept = to_septets(text)
    # "[" and "]" take two septets each.
    assert len(sept) == len(text) + text.count("[") + text.count("]")
    assert 153 * 2 < len(sept) <= 153 * 3
    # Cut at 153 septets, never inside an escape pair.
    chunks, cur = [], []
    for ch in text:
        s = to_septets(ch)
        if len(cur) + len(s) > 153:
            chunks.append(cur)
            cur = []
        cur += s
    chunks.append(cur)
    assert len(chunks) == 3
    # Sent out of order: the message is whole once its last part is in.
    for seq in (1, 3, 2):
        hexpdu, n = submit(TO, chunks[seq - 1], concat=(0xA5, 3, seq, False))
        assert client.send_pdu(hexpdu, n)[-1] == "OK"
        if seq != 2:
            assert modem.events("sms") == []
    [s] = sent(modem, 1)
    assert (s["text"], s["parts"], s["ref"], s["mrs"]) == \
        (text, 3, 0xA5, [1, 3, 2])
    parts = modem.events("part")
    assert [(p["ref"], p["total"], p["seq"], p["ref16"]) for p in parts] == \
        [(0xA5, 3, 1, False), (0xA5, 3, 3, False), (0xA5, 3, 2, False)]
    assert "".join(p["text"] for p in sorted(parts, key=lambda p: p["seq"])) \
        == text


def test_concatenated_ucs2_16bit_ref(modem, client):
    # A 16-bit reference takes a 7-octet UDH: 133 octets are left, 66 UCS-2
    # units a part (67 with the 6-octet UDH of an 8-bit reference).
    text = ("نص عربي طويل للتجربة " * 3 + "中文测试消息，" * 10)[:66 + 40]
    units = text.encode("utf-16-be")
    assert len(units) == 2 * (66 + 40)
    # 67 units after a 16-bit reference make 141 octets: refused.
    hexpdu, n = submit(KE, units[:134], ucs2=True,
                       concat=(0x1234, 2, 1, True))
    assert client.send_pdu(hexpdu, n) == ["+CMS ERROR: 304"]
    for seq, chunk in ((1, units[:132]), (2, units[132:])):
        hexpdu, n = submit(KE, chunk, ucs2=True,
                           concat=(0x1234, 2, seq, True))
        assert client.send_pdu(hexpdu, n)[-1] == "OK"
    [s] = sent(modem, 1)
    assert (s["text"], s["parts"], s["ref"], s["dcs"]) == (text, 2, 0x1234, 8)
    assert [p["ref16"] for p in modem.events("part")] == [True, True]


def test_concatenated_ucs2_8bit_ref(modem, client):
    text = ("警报：注册商凭据泄露，请立即更换密码。" * 5)[:67 + 20]
    units = text.encode("utf-16-be")
    for seq, chunk in ((1, units[:134]), (2, units[134:])):
        hexpdu, n = submit(KE, chunk, ucs2=True, concat=(200, 2, seq, False))
        assert client.send_pdu(hexpdu, n)[-1] == "OK"
    [s] = sent(modem, 1)
    assert (s["text"], s["parts"], s["ref"]) == (text, 2, 200)


def test_concatenated_gsm7_16bit_ref(modem, client):
    # A 7-octet UDH is 8 septets exactly: no fill bits, 152 septets a part.
    text = "".join(chr(ord("A") + k % 26) for k in range(152 + 10)) + "~"
    sept = to_septets(text)
    for seq, chunk in ((1, sept[:152]), (2, sept[152:])):
        hexpdu, n = submit(TO, chunk, concat=(0xBEEF, 2, seq, True))
        assert client.send_pdu(hexpdu, n)[-1] == "OK"
    [s] = sent(modem, 1)
    assert (s["text"], s["ref"]) == (text, 0xBEEF)


def test_surrogate_pair_split_across_parts_is_joined(modem, client):
    # An encoder that cuts between the halves of a pair: the phone (and the
    # modem's record of the whole message) still sees one character.
    units = ("a" * 66 + "😀b").encode("utf-16-be")
    for seq, chunk in ((1, units[:134]), (2, units[134:])):
        hexpdu, n = submit(KE, chunk, ucs2=True, concat=(9, 2, seq, False))
        assert client.send_pdu(hexpdu, n)[-1] == "OK"
    [s] = sent(modem, 1)
    assert s["text"] == "a" * 66 + "😀b"


def test_random_messages_decode_exactly(modem, client):
    rnd = random.Random(2026)
    gsm_chars = [c for c in BASIC if c != "\x1b"] + [c for c, _ in EXTENSION]
    wide = [chr(c) for c in (0x41, 0x6F22, 0x0627, 0x0416, 0x20AC, 0x00E9)] \
        + ["\U0001F600", "\U00020BB7", "\U0001F1F0"]
    expect = []
    for k in range(24):
        ucs2 = k % 2 == 1
        to = rnd.choice([TO, KE, "0791234567", "+1415555012"])
        if ucs2:
            text = "".join(rnd.choice(wide) for _ in range(rnd.randint(1,
                                                                       90)))
            units = text.encode("utf-16-be")
            size = 132 if k % 4 == 1 else 134
            # Cut between units, a surrogate pair never split.
            chunks, cur = [], b""
            for ch in text:
                u = ch.encode("utf-16-be")
                if len(cur) + len(u) > size:
                    chunks.append(cur)
                    cur = b""
                cur += u
            chunks.append(cur)
            if len(units) <= 140:
                chunks = [units]
        else:
            text = "".join(rnd.choice(gsm_chars)
                           for _ in range(rnd.randint(1, 200)))
            sept = to_septets(text)
            size = 152 if k % 4 == 2 else 153
            chunks, cur = [], []
            for ch in text:
                u = to_septets(ch)
                if len(cur) + len(u) > size:
                    chunks.append(cur)
                    cur = []
                cur += u
            chunks.append(cur)
            if len(sept) <= 160:
                chunks = [sept]
        vpf, vp = rnd.choice([(2, "A7"), (0, None), (3, "62103141000000"),
                              (1, "01020000000000")])
        wide16 = size in (132, 152)
        for seq, chunk in enumerate(chunks, 1):
            concat = (k + 1, len(chunks), seq, wide16) \
                if len(chunks) > 1 else None
            hexpdu, n = submit(to, chunk, ucs2=ucs2, concat=concat, vp=vp,
                               vpf=vpf)
            assert client.send_pdu(hexpdu, n)[-1] == "OK", (k, seq)
        expect.append((to, text, len(chunks), 8 if ucs2 else 0))
    got = sent(modem, len(expect))
    assert [(s["to"], s["text"], s["parts"], s["dcs"]) for s in got] == \
        expect
    assert all(s["warnings"] == [] for s in got)
    # Both alphabets were split, with either reference size.
    assert {(e[3], e[2] > 1) for e in expect} == {(0, True), (0, False),
                                                  (8, True), (8, False)}
    assert {p["ref16"] for p in modem.events("part") if p["ref"]} == \
        {True, False}
    assert {p["vp"]["format"] for p in modem.events("part") if p["vp"]} \
        == {"relative", "absolute", "enhanced"}


def test_sim_pin(tmp_path):
    with GsmModem(tmp_path, pin="4321") as m:
        c = connect(m)
        assert c.at("AT+CPIN?") == (["+CPIN: SIM PIN"], "OK")
        assert c.at("AT+CREG?") == (["+CREG: 0,0"], "OK")
        hexpdu, n = gsm_pdu(TO, "locked")
        c.send(f"AT+CMGS={n}\r")
        assert c.final() == b"\r\n+CMS ERROR: 311\r\n"
        # CMEE 0: a wrong PIN is a bare ERROR; CMEE 1: the code.
        assert c.at('AT+CPIN="1111"') == ([], "ERROR")
        assert c.at("AT+CMEE=1") == ([], "OK")
        assert c.at('AT+CPIN="1234"') == ([], "+CME ERROR: 16")
        assert c.at("AT+CMEE=2") == ([], "OK")
        assert c.at('AT+CPIN="4321"') == ([], "OK")
        assert c.at("AT+CPIN?") == (["+CPIN: READY"], "OK")
        assert c.at('AT+CPIN="4321"') == ([], "+CME ERROR: operation not "
                                          "allowed")
        assert c.at("AT+CREG?") == (["+CREG: 0,1"], "OK")
        assert c.send_pdu(hexpdu, n) == ["+CMGS: 1", "OK"]
        assert [s["text"] for s in sent(m, 1)] == ["locked"]
        # The PIN is not written in the log (its fields, not its
        # timestamps, whose digits may hold 4321).
        logged = [json.loads(x) for x in
                  m.events_file.read_text().splitlines() if x.strip()]
        assert logged and not any("4321" in str(v) for e in logged
                                  for k, v in e.items() if k != "t")
        # Three wrong PINs lock the SIM: PUK.
        m.set_state(pin="SIM PIN")
        assert c.at("AT+CMEE=1") == ([], "OK")
        for _ in range(3):
            assert c.at('AT+CPIN="0000"') == ([], "+CME ERROR: 16")
        assert c.at("AT+CPIN?") == (["+CPIN: SIM PUK"], "OK")
        assert c.at('AT+CPIN="4321"') == ([], "+CME ERROR: 12")
        assert c.at("AT+CIMI") == ([], "+CME ERROR: 12")
        assert c.at('AT+CPIN="87654321","5678"') == ([], "+CME ERROR: 16")
        assert c.at('AT+CPIN="12345678","5678"') == ([], "OK")
        assert c.at("AT+CPIN?") == (["+CPIN: READY"], "OK")
        assert c.at("AT+CIMI") == (["639020000000001"], "OK")
        m.set_state(pin="SIM PIN")
        assert c.at('AT+CPIN="4321"') == ([], "+CME ERROR: 16")
        assert c.at('AT+CPIN="5678"') == ([], "OK")
        c.close()


def test_registration(modem, client):
    assert client.at("AT+CREG=1") == ([], "OK")
    modem.set_state(registration=0)
    assert client.read_until(rb"\r\n\+CREG: 0\r\n") is not None
    assert client.at("AT+CREG?") == (["+CREG: 1,0"], "OK")
    assert client.at("AT+COPS?") == (["+COPS: 0"], "OK")
    hexpdu, n = gsm_pdu(TO, "no network")
    assert client.send_pdu(hexpdu, n) == ["+CMS ERROR: 331"]
    modem.set_state(registration=2)
    assert client.read_until(rb"\r\n\+CREG: 2\r\n") is not None
    assert client.send_pdu(hexpdu, n) == ["+CMS ERROR: 331"]
    modem.set_state(registration=5)
    assert client.read_until(rb"\r\n\+CREG: 5\r\n") is not None
    assert client.at("AT+CREG?") == (["+CREG: 1,5"], "OK")
    assert client.send_pdu(hexpdu, n) == ["+CMGS: 1", "OK"]
    assert [s["text"] for s in sent(modem, 1)] == ["no network"]
    assert len(modem.events("part")) == 1


def test_cms_error_rule(modem, client):
    modem.set_faults([{"match": r"^\+254", "action": "cms_error",
                       "code": 38, "count": 1}])
    ke, n1 = gsm_pdu(KE, "to Kenya")
    ch, n2 = gsm_pdu(TO, "to Switzerland")
    assert client.send_pdu(ke, n1) == ["+CMS ERROR: 38"]
    assert client.send_pdu(ch, n2) == ["+CMGS: 1", "OK"]
    assert client.send_pdu(ke, n1) == ["+CMGS: 2", "OK"]
    assert [(s["to"], s["text"]) for s in sent(modem, 2)] == \
        [(TO, "to Switzerland"), (KE, "to Kenya")]
    [f] = modem.events("fault")
    assert (f["action"], f["to"]) == ("cms_error", KE)
    rules = modem.control()["rules"]
    assert (rules[0]["fired"], rules[0]["left"]) == (1, 0)


def test_silent_rule(modem, client):
    modem.set_faults([{"action": "silent", "count": 1}])
    hexpdu, n = gsm_pdu(TO, "lost in the network")
    client.send(f"AT+CMGS={n}\r")
    assert client.read_until(rb"\r\n> ") is not None
    client.send(hexpdu + "\x1a")
    # Nothing at all within a second: the client must time out.
    assert client.quiet(1.0) == b""
    assert modem.events("part") == [] and modem.events("sms") == []
    # The modem still answers afterwards, and the next send goes.
    assert client.at("AT") == ([], "OK")
    assert client.send_pdu(hexpdu, n) == ["+CMGS: 1", "OK"]
    assert [s["text"] for s in sent(modem, 1)] == ["lost in the network"]


def test_lost_answer_rule(modem, client):
    modem.set_faults([{"action": "lost_answer", "count": 1}])
    hexpdu, n = gsm_pdu(TO, "sent but unanswered")
    client.send(f"AT+CMGS={n}\r")
    assert client.read_until(rb"\r\n> ") is not None
    client.send(hexpdu + "\x1a")
    assert client.quiet(0.5) == b""
    # Sent nonetheless: a retry makes it twice.
    assert [s["text"] for s in sent(modem, 1)] == ["sent but unanswered"]
    assert client.send_pdu(hexpdu, n) == ["+CMGS: 2", "OK"]
    assert len(sent(modem, 2)) == 2


def test_drop_after_prompt_rule(modem, client):
    modem.set_faults([{"action": "drop_after_prompt", "count": 1}])
    hexpdu, n = gsm_pdu(TO, "stuck")
    client.send(f"AT+CMGS={n}\r")
    assert client.read_until(rb"\r\n> ") is not None
    client.send(hexpdu + "\x1a")
    client.send("AT\r")
    assert client.quiet(0.5) == b""
    # ESC gets the modem out of it, silently; then it serves again.
    client.send("\x1b")
    assert client.quiet(0.3) == b""
    assert client.at("AT") == ([], "OK")
    assert client.send_pdu(hexpdu, n) == ["+CMGS: 1", "OK"]
    assert [s["text"] for s in sent(modem, 1)] == ["stuck"]


def test_delay_rule(modem, client):
    modem.set_faults([{"action": "delay", "seconds": 1.0, "count": 1},
                      {"action": "cms_error", "code": 500, "count": 1,
                       "match": "^\\+41"}])
    hexpdu, n = gsm_pdu(TO, "slow")
    client.send(f"AT+CMGS={n}\r")
    assert client.read_until(rb"\r\n> ") is not None
    t0 = time.monotonic()
    client.send(hexpdu + "\x1a")
    assert client.final() == b"\r\n+CMS ERROR: 500\r\n"
    assert time.monotonic() - t0 >= 0.95
    t0 = time.monotonic()
    assert client.send_pdu(hexpdu, n) == ["+CMGS: 1", "OK"]
    assert time.monotonic() - t0 < 0.9
    assert [f["action"] for f in modem.events("fault")] == \
        ["delay", "cms_error"]


def test_fault_from_command_line(tmp_path):
    with GsmModem(tmp_path, faults=[{"action": "cms_error", "code": 42,
                                     "match": "0001$"}]) as m:
        c = connect(m)
        assert c.send_pdu(*gsm_pdu(TO, "x")) == ["+CMS ERROR: 42"]
        assert c.send_pdu(*gsm_pdu(TO, "x")) == ["+CMS ERROR: 42"]
        assert c.send_pdu(*gsm_pdu("+41790000002", "y"))[-1] == "OK"
        c.close()


def test_bad_rules_refused(modem):
    for bad in ({"action": "explode"}, {"action": "cms_error"},
                {"action": "delay"}, {"action": "silent", "match": "("},
                {"action": "silent", "colour": 1}):
        ans = modem.control({"rules": [bad]}, check=False)
        assert ans["ok"] is False and ans["error"], bad
    assert modem.control()["rules"] == []
    assert modem.control({"frobnicate": 1}, check=False)["ok"] is False


def test_inbound_read_delete(modem, client):
    assert client.at("AT+CNMI=2,1,0,0,0") == ([], "OK")
    assert modem.inbound(KE, "ACK 12345678") == [1]
    assert client.read_until(rb'\r\n\+CMTI: "SM",1\r\n') is not None
    info, res = client.at("AT+CMGR=1")
    assert res == "OK"
    m = re.fullmatch(r"\+CMGR: 0,,(\d+)", info[0])
    assert m, info
    assert len(bytes.fromhex(info[1])) - 1 - bytes.fromhex(info[1])[0] == \
        int(m.group(1))
    assert parse_deliver(info[1]) == (KE, "ACK 12345678", 1, 1)
    # Read now.
    assert client.at("AT+CMGR=1")[0][0].startswith("+CMGR: 1,,")
    # A UCS-2 one, and its listing.
    arabic = "تم الاستلام ١٢٣"
    assert modem.inbound("+97150000001", arabic) == [2]
    assert client.read_until(rb'\r\n\+CMTI: "SM",2\r\n') is not None
    info, res = client.at("AT+CMGL=0")
    assert res == "OK" and len(info) == 2
    assert info[0].startswith("+CMGL: 2,0,,")
    assert parse_deliver(info[1]) == ("+97150000001", arabic, 1, 1)
    info, res = client.at("AT+CMGL=4")
    assert [x.split(",")[0] for x in info[::2]] == ["+CMGL: 1", "+CMGL: 2"]
    # Delete, and it is gone.
    assert client.at("AT+CMGD=1") == ([], "OK")
    assert client.at("AT+CMGR=1") == ([], "+CMS ERROR: 321")
    assert client.at("AT+CMGD=2,4") == ([], "OK")
    assert client.at("AT+CMGL=4") == ([], "OK")
    assert [e["index"] for e in modem.events("delete")] == [1, 2]
    [i1, i2] = modem.events("inbound")
    assert (i1["from"], i1["text"], i1["index"]) == (KE, "ACK 12345678", 1)
    assert i2["dcs"] == "ucs2"


def test_inbound_long_and_memory_full(modem, client):
    # No +CNMI: stored, not announced.
    long_text = "".join(str(k % 10) for k in range(200)) + "€"
    assert modem.inbound(KE, long_text) == [1, 2]
    assert client.quiet(0.3) == b""
    info, res = client.at("AT+CMGL=4")
    got = [parse_deliver(pdu) for pdu in info[1::2]]
    assert [(g[2], g[3]) for g in got] == [(2, 1), (2, 2)]
    assert got[0][1] + got[1][1] == long_text
    for k in range(28):
        modem.inbound(KE, f"n{k}")
    ans = modem.control({"inbound": {"from": KE, "text": "one too many"}},
                        check=False)
    assert ans == {"ok": False, "error": "memory full", "cms": 322}
    assert client.at("AT+CPMS?") == (['+CPMS: "SM",30,30,"SM",30,30,'
                                      '"SM",30,30'], "OK")


def test_malformed_input(modem, client):
    good, n = gsm_pdu(TO, "fine")
    dlv, dn = gsm_pdu(TO, "x", first=0x00)             # SMS-DELIVER's MTI
    u, un = ucs2_pdu(TO, "abc")
    cases = [
        (good[:20] + "ZZ" + good[22:], n),               # not hex
        (good, n + 1),                                   # wrong length
        (good, n - 1),
        (good + "0", n),                                 # odd digit count
        (dlv, dn),
        (u.replace("0008A7", "0004A7", 1), un),          # 8-bit data
        (good[:-2], n - 1),                              # user data short
        (good.replace("0B91", "0091", 1), n - 6),        # no digits
    ]
    for hexpdu, length in cases:
        assert client.send_pdu(hexpdu, length) == ["+CMS ERROR: 304"], hexpdu
    # Over 176 octets.
    client.send("AT+CMGS=200\r")
    assert client.final() == b"\r\n+CMS ERROR: 304\r\n"
    # A line over 1024 characters, and a PDU over the limit.
    assert client.at("AT" + "A" * 1100) == ([], "ERROR")
    assert client.at("AT" + "+CSQ" * 2000) == ([], "ERROR")
    client.send("AT+CMGS=20\r")
    assert client.read_until(rb"\r\n> ") is not None
    client.send("00" * 700 + "\x1a")
    assert client.final() == b"\r\n+CMS ERROR: 304\r\n"
    # ESC cancels a send.
    client.send(f"AT+CMGS={n}\r")
    assert client.read_until(rb"\r\n> ") is not None
    client.send(good[:10] + "\x1b")
    assert client.final() == b"\r\nOK\r\n"
    # Bad indexes and parameters.
    assert client.at("AT+CMGR=0") == ([], "+CMS ERROR: 321")
    assert client.at("AT+CMGR=31") == ([], "+CMS ERROR: 321")
    assert client.at("AT+CMGR=x") == ([], "+CMS ERROR: 321")
    assert client.at("AT+CMGL=9") == ([], "+CMS ERROR: 304")
    assert client.at("AT+CNMI=2,2,0,0,0") == ([], "+CMS ERROR: 303")
    # Text mode: no sending.
    assert client.at("AT+CMGF=1") == ([], "OK")
    client.send('AT+CMGS="+41790000001"\r')
    assert client.final() == b"\r\n+CMS ERROR: 302\r\n"
    assert client.at("AT+CMGF=0") == ([], "OK")
    # Nothing of that was sent, and the modem still serves.
    assert modem.events("part") == []
    assert client.send_pdu(good, n) == ["+CMGS: 1", "OK"]
    assert [s["text"] for s in sent(modem, 1)] == ["fine"]


def test_reopen_device(modem):
    c = connect(modem)
    assert c.send_pdu(*gsm_pdu(TO, "first")) == ["+CMGS: 1", "OK"]
    c.close()
    # No client for a while; a URC written meanwhile waits in the pty and
    # the next client flushes it on opening.
    time.sleep(0.2)
    c = Client(modem.device)
    c.send("AT\r")
    assert c.final() == b"\r\nOK\r\n"      # echo stays off: no ATZ
    assert c.at("AT+CNMI=2,1,0,0,0") == ([], "OK")
    c.close()
    # A URC while no client has the device open waits in the pty; a client
    # that flushes on opening does not see it.
    assert modem.inbound(KE, "while closed") == [1]
    time.sleep(0.2)
    c = Client(modem.device)
    info, res = c.at("AT+CMGL=4")
    assert res == "OK" and info[0].startswith("+CMGL: 1,0,,")
    assert not any("CMTI" in x for x in info)
    assert c.buf == b"" and c.quiet(0.2) == b""
    assert c.send_pdu(*gsm_pdu(TO, "second")) == ["+CMGS: 2", "OK"]
    c.close()
    assert [s["text"] for s in sent(modem, 2)] == ["first", "second"]
    assert modem.proc.poll() is None
    assert modem.stop() == 0
    # It cleans up after itself.
    assert not os.path.lexists(modem.link)
    assert not os.path.exists(modem.info["control"])


def test_unread_modem_does_not_stall(modem):
    # A client that writes and never reads: the pty fills, the modem drops
    # what it cannot write (a serial line without a reader loses bytes) and
    # is still there for the next client, without minutes of stall.
    c = Client(modem.device)
    t0 = time.monotonic()
    c.send("ATI\r" * 3000)
    c.close()
    deadline = time.monotonic() + 30
    while modem.control()["counters"]["commands"] < 3000:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert time.monotonic() - t0 < 30
    assert modem.control()["counters"]["dropped_bytes"] > 0
    c = Client(modem.device)
    termios.tcflush(c.fd, termios.TCIFLUSH)
    c.send("ATE0\r")
    assert c.final() == b"ATE0\r\r\nOK\r\n"
    assert c.at("AT") == ([], "OK")
    c.close()


def test_split_writes_and_echo(modem):
    # Echo left on, a CRLF line end, and bytes dribbled in small pieces: the
    # modem echoes every byte, the PDU too, and answers once the Ctrl-Z is in.
    c = Client(modem.device)
    text = "split €"
    hexpdu, n = gsm_pdu(TO, text)
    # A LF after the CR is ignored (and echoed).
    c.send("ATE1\r\n")
    assert c.final() == b"ATE1\r\r\nOK\r\n"
    assert c.read_until(rb"\n") == b"\n"
    for piece in ("AT+C", "MGS=", f"{n}\r"):
        c.send(piece)
        time.sleep(0.02)
    assert c.read_until(rb"\r\n> ") == f"AT+CMGS={n}\r\r\n> ".encode()
    data = hexpdu + "\x1a"
    for k in range(0, len(data), 7):
        c.send(data[k:k + 7])
        time.sleep(0.005)
    out = c.final()
    assert out == (data + "\r\n+CMGS: 1\r\n\r\nOK\r\n").encode()
    assert [s["text"] for s in sent(modem, 1)] == [text]
    c.close()


def test_control_socket_garbage(modem):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as so:
        so.settimeout(5)
        so.connect(modem.info["control"])
        so.sendall(b"{not json\n[1, 2]\n{\"get\": true}\n")
        buf = b""
        while buf.count(b"\n") < 3:
            chunk = so.recv(65536)
            assert chunk, buf
            buf += chunk
    a1, a2, a3 = [json.loads(x) for x in buf.split(b"\n")[:3]]
    assert a1["ok"] is False and a2["ok"] is False
    assert a3["ok"] is True and a3["state"]["registration"] == 1
    # The peer is its own control client too.
    r = subprocess.run([PYTHON, str(PEER), "--send", str(modem.ready),
                        '{"state": {"registration": 5}}'],
                       capture_output=True, timeout=10)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["state"]["registration"] == 5
    assert modem.control()["state"]["registration"] == 5
    r = subprocess.run([PYTHON, str(PEER), "--send", str(modem.ready),
                        '{"state": {"registration": 4}}'],
                       capture_output=True, timeout=10)
    assert r.returncode == 1 and json.loads(r.stdout)["ok"] is False
