#!/usr/bin/env python3
"""Independent verifier for fundtrail ledger exports (format `fundtrail-export/1`) and
receipts.

Written from docs/ledger-format.md only, Python 3.11 standard library only.

    python3 verify.py --export FILE --public-key FILE [--checkpoint FILE]
    python3 verify.py --receipt FILE --public-key FILE

Prints a JSON report: for an export {ok, chain, entries_checked, checkpoints_checked,
root_hash, first_failure: {seq, reason, detail} | null}; for a receipt {ok, chain, seq,
tree_size, root_hash, failure: {field, detail} | null}. Exit 0: intact (proven), 1: tampered
(does not hold), 2: unusable input.
"""

import argparse
import base64
import bisect
import collections
import decimal
import hashlib
import json
import os
import re
import uuid
import sys

# --------------------------------------------------------------------------- Ed25519
# Verification only, after RFC 8032 section 6 (extended coordinates). The check is the
# cofactorless one: encode([s]B - [k]A) must equal the signature's R bytes, s < L.

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _recover_x(y, sign):
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        return None
    if (x & 1) != sign:
        x = _P - x
    return x


_GY = 4 * pow(5, _P - 2, _P) % _P
_GX = _recover_x(_GY, 0)
_G = (_GX, _GY, 1, _GX * _GY % _P)
_ZERO = (0, 1, 1, 0)


def _add(a, b):
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa = (y1 - x1) * (y2 - x2) % _P
    bb = (y1 + x1) * (y2 + x2) % _P
    cc = 2 * t1 * t2 * _D % _P
    dd = 2 * z1 * z2 % _P
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _mul(s, pt):
    q = _ZERO
    while s:
        if s & 1:
            q = _add(q, pt)
        pt = _add(pt, pt)
        s >>= 1
    return q


def _table(pt):
    """Fixed-window table: row i holds j * 16^i * pt for j = 0..15 (64 rows)."""
    rows = []
    for _ in range(64):
        row = [_ZERO]
        for _ in range(15):
            row.append(_add(row[-1], pt))
        rows.append(row)
        pt = _add(row[15], pt)  # 16 * pt
    return rows


def _mul_table(s, rows):
    q = _ZERO
    for row in rows:
        if s & 15:
            q = _add(q, row[s & 15])
        s >>= 4
    return q


def _encode(pt):
    x, y, z, _ = pt
    zi = pow(z, _P - 2, _P)
    x, y = x * zi % _P, y * zi % _P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _decode(b):
    y = int.from_bytes(b, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % _P)


_TABLES = {}  # public key bytes (or "B") -> window table; keys are few


def _tables_for(public):
    if "B" not in _TABLES:
        _TABLES["B"] = _table(_G)
    if public not in _TABLES:
        a = _decode(public)
        if a is None:
            return None
        _TABLES[public] = _table(((_P - a[0]) % _P, a[1], a[2], (_P - a[3]) % _P))  # -A
    return _TABLES["B"], _TABLES[public]


def ed25519_verify(public, msg, sig):
    if len(public) != 32 or len(sig) != 64:
        return False
    tables = _tables_for(bytes(public))
    s = int.from_bytes(sig[32:], "little")
    if tables is None or s >= _L:
        return False
    k = int.from_bytes(hashlib.sha512(sig[:32] + public + msg).digest(), "little") % _L
    return _encode(_add(_mul_table(s, tables[0]), _mul_table(k, tables[1]))) == sig[:32]


# --------------------------------------------------------------------------- helpers


class Unusable(Exception):
    """The input cannot be verified at all (exit 2)."""


class BadNumber:
    """A JSON number no IEEE double can hold (kept so the entry, not the line, fails)."""


class TooDeep:
    """An `entry` nested deeper than the reference JSON parser accepts (unparseable)."""


def b64_strict(s):
    """Standard base64 with padding; non-canonical encodings are refused."""
    try:
        raw = base64.b64decode(s, validate=True)
    except (ValueError, TypeError):
        return None
    return raw if base64.b64encode(raw).decode() == s else None


def hex32(s):
    """A hash as JSON carries it: exactly 64 lower-case hex digits, nothing else."""
    if not isinstance(s, str) or not re.fullmatch(r"[0-9a-f]{64}", s):
        return None
    return bytes.fromhex(s)


class Obj(dict):
    dup = False


def _pairs(pairs):
    o = Obj()
    for k, v in pairs:
        if k in o:
            o.dup = True
        o[k] = v  # last one wins, like serde_json::Value
    return o


def _int(s):
    if s == "-0":
        return -0.0  # serde_json reads -0 as a double
    n = int(s)
    if -(2**63) <= n < 2**64:
        return n
    try:
        return float(n)
    except OverflowError:
        return BadNumber()


def _float(s):
    f = float(s)
    return BadNumber() if f in (float("inf"), float("-inf")) else f


def _no_constants(s):
    raise ValueError(f"{s} is not JSON")


def loads(text):
    return json.loads(text, object_pairs_hook=_pairs, parse_int=_int,
                      parse_float=_float, parse_constant=_no_constants)


# Unicode White_Space (Rust char::is_whitespace, Go unicode.IsSpace); Python's own
# str.isspace() differs (it also counts U+001C..U+001F).
_WHITE_SPACE = set("\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | \
    {chr(c) for c in range(0x2000, 0x200B)}


def _lstrip_ws(s):
    i = 0
    while i < len(s) and s[i] in _WHITE_SPACE:
        i += 1
    return s[i:]


# --------------------------------------------------------------------------- raw line scan
# The reference reads each line with serde_json into a struct whose `entry` member is kept
# raw; the entry is parsed again on its own, with serde_json's nesting limit (at most 127
# nested arrays/objects, the entry itself counting as one). `type` must be a JSON string
# without escapes (it is borrowed from the line). Python's json module is recursive, so
# lines are first scanned iteratively for nesting depth.

_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},:]')
_WS = " \t\n\r"


def scan_line(text):
    """Iterative scan of one JSON line: (max depth, raw `type` string token or None, max
    depth of the `entry` value relative to it, (start, end) of the `entry` value)."""
    depth = max_depth = 0
    top = None          # "{" or "[" of the line itself
    key = None          # current member name at depth 1 (object form)
    index = 0           # current element index at depth 1 (array form)
    expect_key = True
    type_raw = None
    entry_depth, entry_span, entry_start = 0, None, None
    for m in _TOKEN.finditer(text):
        tok, start = m.group(), m.start()
        if depth == 1 and entry_start is None and tok not in "]},":
            member = key if top == "{" else ("entry" if index == 6 else "type" if index == 0 else None)
            if not (top == "{" and expect_key) and member == "entry":
                entry_start = start
        if tok in "{[":
            if depth == 0:
                top = tok
            depth += 1
            max_depth = max(max_depth, depth)
            if entry_start is not None:
                entry_depth = max(entry_depth, depth - 1)
            if depth == 1:
                expect_key = True
        elif tok in "]}":
            depth -= 1
            if depth == 1 and entry_start is not None and entry_span is None:
                entry_span = (entry_start, m.end())
        elif tok == ",":
            if depth == 1:
                if entry_start is not None and entry_span is None:
                    entry_span = (entry_start, start)
                expect_key = True
                index += 1
        elif tok == ":":
            if depth == 1:
                expect_key = False
        elif depth == 1:  # a string at the line's own level
            if top == "{" and expect_key:
                try:
                    key = json.loads(tok)
                except ValueError:
                    key = None
            elif (top == "{" and key == "type") or (top == "[" and index == 0):
                type_raw = tok
            if entry_start is not None and entry_span is None:
                entry_span = (entry_start, m.end())
    if entry_start is not None and entry_span is None:
        entry_span = (entry_start, len(text))
    return max_depth, type_raw, entry_depth, entry_span


_VALID_TOKEN = re.compile(
    r'[ \t\n\r]*(?:("(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*")|'
    r'(-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null)|([\[\]{},:]))')


def json_syntax_ok(text):
    """Iterative JSON syntax check (no depth limit), for values too deep to parse here."""
    stack, pos, want = [], 0, "value"  # want: value | value_or_end | key | key_or_end | colon | comma_or_end
    while True:
        m = _VALID_TOKEN.match(text, pos)
        if not m:
            return want == "done" and text[pos:].strip(_WS) == ""
        pos = m.end()
        s, lit, p = m.groups()
        if want == "done":
            return False
        if want in ("key", "key_or_end"):
            if s is not None:
                want = "colon"
                continue
            if p == "}" and want == "key_or_end":
                stack.pop()
            else:
                return False
        elif want == "colon":
            if p != ":":
                return False
            want = "value"
            continue
        elif want == "comma_or_end":
            if p == ",":
                want = "key" if stack[-1] == "{" else "value"
                continue
            if p in ("]", "}") and {"[": "]", "{": "}"}[stack[-1]] == p:
                stack.pop()
            else:
                return False
        else:  # value or value_or_end
            if s is not None or lit is not None:
                pass
            elif p in ("[", "{"):
                stack.append(p)
                want = "value_or_end" if p == "[" else "key_or_end"
                continue
            elif p == "]" and want == "value_or_end":
                stack.pop()
            else:
                return False
        want = "comma_or_end" if stack else "done"


# --------------------------------------------------------------------------- RFC 8785


def es6_number(f):
    """ECMAScript Number.prototype.toString for a finite double (RFC 8785 section 3.2.2.3)."""
    if f != f or f in (float("inf"), float("-inf")):
        raise ValueError("NaN/Infinity")
    if f == 0:
        return "0"
    if f < 0:
        return "-" + es6_number(-f)
    _, digs, ex = decimal.Decimal(repr(f)).normalize().as_tuple()  # shortest round trip
    digits = "".join(map(str, digs))
    n = ex + len(digits)  # f = 0.digits * 10**n
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    e = n - 1
    m = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{m}e{'+' if e > 0 else '-'}{abs(e)}"


_ESC = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def jcs_string(s):
    s.encode("utf-8")  # raises on lone surrogates
    return '"' + "".join(_ESC.get(c) or (f"\\u{ord(c):04x}" if c < " " else c) for c in s) + '"'


def jcs(v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, str):
        return jcs_string(v)
    if isinstance(v, (int, float)):
        return es6_number(float(v))  # every JSON number is a double in RFC 8785
    if isinstance(v, list):
        return "[" + ",".join(jcs(i) for i in v) + "]"
    if isinstance(v, dict):
        keys = sorted(v, key=lambda k: k.encode("utf-16-be"))  # UTF-16 code units
        return "{" + ",".join(jcs_string(k) + ":" + jcs(v[k]) for k in keys) + "}"
    raise ValueError("not a JSON value")


# --------------------------------------------------------------------------- dates


def _days_in_month(y, m):
    if m == 2:
        return 29 if y % 4 == 0 and (y % 100 != 0 or y % 400 == 0) else 28
    return 30 if m in (4, 6, 9, 11) else 31


def _digits(s, lo, hi):
    """1..hi ASCII digits at the start of s (chrono scan::number): (value, rest)."""
    n = 0
    while n < len(s) and n < hi and "0" <= s[n] <= "9":
        n += 1
    if n < lo:
        raise ValueError("digit expected")
    return int(s[:n]), s[n:]


def parse_business_date(s):
    """chrono's `NaiveDate::from_str` (`%Y-%m-%d`, lenient about white space, signs and
    digit counts); returns the canonical spelling (chrono's Display)."""
    if not isinstance(s, str):
        raise ValueError("business_date must be a string")
    s = _lstrip_ws(s)
    if s[:1] in ("+", "-"):
        neg, (year, s) = s[0] == "-", _digits(s[1:], 1, len(s))
        if year > 2**63 - 1:
            raise ValueError("year out of range")
        year = -year if neg else year
    else:
        year, s = _digits(s, 1, 4)
    if not -(2**31) <= year < 2**31:
        raise ValueError("year out of range")
    s = _lstrip_ws(s)
    if not s.startswith("-"):
        raise ValueError("- expected")
    month, s = _digits(_lstrip_ws(s[1:]), 1, 2)
    s = _lstrip_ws(s)
    if not s.startswith("-"):
        raise ValueError("- expected")
    day, s = _digits(_lstrip_ws(s[1:]), 1, 2)
    if _lstrip_ws(s):
        raise ValueError("trailing characters")
    if not (-262143 <= year <= 262142 and 1 <= month <= 12 and 1 <= day <= _days_in_month(year, month)):
        raise ValueError("no such date")
    y = f"{year:04d}" if 0 <= year <= 9999 else f"{year:+05d}"
    return f"{y}-{month:02d}-{day:02d}"


_RECORDED_AT = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})\.[0-9]{6}Z")


def check_recorded_at(t):
    """RFC 3339 UTC with exactly six fractional digits and Z; leap second 60 allowed."""
    m = isinstance(t, str) and _RECORDED_AT.fullmatch(t)
    if not m:
        raise ValueError("recorded_at must be UTC with six fractional digits and Z")
    y, mo, d, h, mi, se = map(int, m.groups())
    if not (1 <= mo <= 12 and 1 <= d <= _days_in_month(y, mo) and h < 24 and mi < 60 and se <= 60):
        raise ValueError("recorded_at is not a valid instant")


# --------------------------------------------------------------------------- entries

ENTRY_TAG = b"fundtrail/ledger/entry/v1\x00"
ZERO_HASH = bytes(32)
_ENTRY_FIELDS = ("v", "chain", "seq", "kind", "business_date", "recorded_at", "principal",
                 "idempotency_key", "body")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
MAX_SAFE_INTEGER = 2**53 - 1
MAX_BODY_DEPTH = 32
MAX_JSON_NESTING = 127  # serde_json: arrays/objects nested at most this deep


def parse_uuid(s):
    """The canonical UUID spelling only: lower-case, hyphenated 8-4-4-4-12."""
    return s if isinstance(s, str) and _UUID.fullmatch(s) else None


def _uint(v, bits):
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**bits


def _struct(v, fields, what):
    """A serde struct: an object with exactly these members (no duplicates) or an array of
    exactly this many elements in declaration order."""
    if isinstance(v, list):
        if len(v) != len(fields):
            raise ValueError(f"{what}: an array must have {len(fields)} elements")
        return dict(zip(fields, v))
    if not isinstance(v, dict) or getattr(v, "dup", False) or set(v) != set(fields):
        raise ValueError(f"{what}: members must be exactly " + ", ".join(fields))
    return v


def _json_ok(v, depth=1):
    """No lone surrogate in any string or member name, no number beyond a double, nesting
    within serde_json's limit (`depth` = nesting level of v's container)."""
    if isinstance(v, BadNumber):
        raise ValueError("number out of range")
    if isinstance(v, str):
        v.encode("utf-8")
    elif isinstance(v, (list, dict)):
        if depth > MAX_JSON_NESTING:
            raise ValueError("recursion limit exceeded")
        for k, item in (v.items() if isinstance(v, dict) else enumerate(v)):
            if isinstance(k, str):
                k.encode("utf-8")
            _json_ok(item, depth + 1)


def parse_entry(raw):
    """The entry as the reference parses it (serde `Entry`), or ValueError (unparseable)."""
    if isinstance(raw, TooDeep):
        raise ValueError("recursion limit exceeded")
    try:
        _json_ok(raw)
    except UnicodeError:
        raise ValueError("lone surrogate in a string") from None
    e = dict(_struct(raw, _ENTRY_FIELDS, "entry"))
    if not _uint(e["v"], 32) or not _uint(e["seq"], 64):
        raise ValueError("v and seq must be unsigned integers")
    e["chain"] = parse_uuid(e["chain"])
    if e["chain"] is None:
        raise ValueError("chain is not a UUID")
    for f in ("kind", "idempotency_key"):
        if not isinstance(e[f], str):
            raise ValueError(f"{f} must be a string")
    e["business_date"] = parse_business_date(e["business_date"])
    check_recorded_at(e["recorded_at"])
    p = dict(_struct(e["principal"], ("id", "role"), "principal"))
    if not all(isinstance(p[k], str) for k in p):
        raise ValueError("principal id and role must be strings")
    e["principal"] = p
    return e


def _portable(n):
    return isinstance(n, int) and not isinstance(n, bool) and abs(n) <= MAX_SAFE_INTEGER


def entry_rules(e):
    """The write-time rules (reason invalid_entry); None if they hold."""
    if e["v"] != 1:
        return f"unknown format version {e['v']}"
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", e["kind"]):
        return f"kind must match [a-z][a-z0-9_]{{0,63}}, got {e['kind']!r}"
    if not re.fullmatch(r"[\x21-\x7e]{1,128}", e["idempotency_key"]):
        return "idempotency key must be 1 to 128 printable ASCII characters"
    if not isinstance(e["body"], dict):
        return "body must be a JSON object"
    todo = [(e["body"], 0)]
    while todo:
        v, depth = todo.pop()
        if depth > MAX_BODY_DEPTH:
            return f"body nests deeper than {MAX_BODY_DEPTH} levels"
        if isinstance(v, (int, float)) and not isinstance(v, bool) and not _portable(v):
            return f"body contains the number {v}: only integers within ±(2^53-1) are allowed"
        if isinstance(v, dict):
            todo.extend((i, depth + 1) for i in v.values())
        elif isinstance(v, list):
            todo.extend((i, depth + 1) for i in v)
    return None


def entry_canonical(e):
    """RFC 8785 bytes of a parsed entry (see parse_entry)."""
    return jcs(e).encode("utf-8")


def entry_hash(prev, canonical):
    return hashlib.sha256(ENTRY_TAG + prev + canonical).digest()


# --------------------------------------------------------------------------- Merkle (RFC 9162)


def leaf_hash(entry_hash_):
    return hashlib.sha256(b"\x00" + entry_hash_).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


class Frontier:
    """Roots of the complete aligned subtrees covering leaves [0, size), largest first."""

    def __init__(self):
        self.size, self.nodes = 0, []

    def push(self, leaf):
        h, i = leaf, self.size
        while i & 1:
            h = node_hash(self.nodes.pop(), h)
            i >>= 1
        self.nodes.append(h)
        self.size += 1

    def root(self):
        if not self.nodes:
            return hashlib.sha256(b"").digest()
        r = self.nodes[-1]
        for left in reversed(self.nodes[:-1]):
            r = node_hash(left, r)
        return r


# --------------------------------------------------------------------------- signed notes


def valid_key_name(name):
    return bool(name) and not any(c in _WHITE_SPACE or c == "+" for c in name)


def key_id(name, encoded_key):
    return hashlib.sha256(name.encode() + b"\n" + encoded_key).digest()[:4]


def parse_verifier_key(s):
    name, _, rest = s.partition("+")
    hex8, _, key64 = rest.partition("+")
    if not re.fullmatch(r"[0-9a-fA-F]{8}", hex8) or not valid_key_name(name):
        raise ValueError("malformed verifier key")
    data = b64_strict(key64)
    if not data:
        raise ValueError("malformed verifier key")
    if key_id(name, data) != bytes.fromhex(hex8):
        raise ValueError("key ID does not match key name and public key")
    if data[0] != 0x01 or len(data) != 33 or _decode(data[1:]) is None:
        raise ValueError("not an Ed25519 verifier key")
    return (name, bytes.fromhex(hex8), data[1:])


def _no_controls(s):
    if any(c < " " and c != "\n" for c in s):
        raise ValueError("control character other than newline")


def read_key_lines(lines):
    """The keys of a key file (its non-blank, non-comment lines) as a set: a key listed
    twice is one key; two different keys under one (name, key ID) are unusable input."""
    keys = []
    for line in lines:
        line = line.strip(_BLANK)
        if not line or line.startswith("#"):
            continue
        key = parse_verifier_key(line)
        same = [k for k in keys if k[:2] == key[:2]]
        if same and same[0][2] != key[2]:
            raise Unusable(f"two different public keys share the name and key ID {key[0]}+{key[1].hex()}")
        if not same:
            keys.append(key)
    if not keys:
        raise Unusable("the key file holds no verifier key")
    return keys


def open_note(note, keys):
    """Returns the signed text if at least one known key signed it and every signature
    line by a known key verifies (C2SP signed-note; unknown keys' lines are ignored)."""
    _no_controls(note)
    split = note.rfind("\n\n")
    if split < 0:
        raise ValueError("missing signature block")
    text, sigs = note[: split + 1], note[split + 2:]
    if not sigs:
        raise ValueError("missing signature block")
    if not sigs.endswith("\n"):
        raise ValueError("missing final newline")
    verified = 0
    for count, line in enumerate(sigs[:-1].split("\n")):
        if not line.startswith("\u2014 "):
            raise ValueError("malformed signature line")
        name, _, b64 = line[2:].partition(" ")
        raw = b64_strict(b64) if b64 else None
        if not valid_key_name(name) or raw is None or len(raw) < 5:
            raise ValueError("malformed signature line")
        if count >= 100:
            raise ValueError("more than 100 signatures")
        matches = [k for k in keys if k[0] == name and k[1] == raw[:4]]
        if not matches:
            continue
        if any(k[2] != matches[0][2] for k in matches):
            raise ValueError(f"ambiguous key {name}+{raw[:4].hex()}")
        # Every line by a known key is checked, not only its first one.
        if not ed25519_verify(matches[0][2], text.encode("utf-8"), raw[4:]):
            raise ValueError(f"invalid signature for key {name}+{raw[:4].hex()}")
        verified += 1
    if not verified:
        raise ValueError("note has no verifiable signatures")
    return text


def parse_checkpoint(text):
    """C2SP tlog-checkpoint body -> (origin, size, root, extensions)."""
    _no_controls(text)
    if not text.endswith("\n"):
        raise ValueError("missing final newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise ValueError("fewer than three lines")
    origin, size, root, ext = lines[0], lines[1], lines[2], lines[3:]
    if not origin:
        raise ValueError("invalid origin")
    if not re.fullmatch(r"0|[1-9][0-9]*", size) or int(size) >= 2**64:
        raise ValueError("invalid tree size")
    root_raw = b64_strict(root)
    if root_raw is None or len(root_raw) != 32:
        raise ValueError("invalid root hash")
    if any(not e for e in ext):
        raise ValueError("invalid extension line")
    return origin, int(size), root_raw, ext


# --------------------------------------------------------------------------- verification

MAX_PENDING = 1024


def first_altered(start, size):
    """A root names no leaf: the entry is exact only when the range holds one."""
    if size - start == 1:
        return f"entries before {start} match a signed checkpoint, so entry {start} was altered"
    return f"entries before {start} match a signed checkpoint, so the first altered entry is in [{start}, {size})"


class Verifier:
    def __init__(self, chain, origin, keys):
        self.chain, self.origin, self.keys = chain, origin, keys
        self.next_seq, self.prev, self.frontier = 0, ZERO_HASH, Frontier()
        self.vouched, self.checkpoints_checked = 0, 0
        self.pending = []  # genuine checkpoints ahead of the entries, sorted by (size, arrival)
        self.arrivals = 0
        self.latest, self.trusted, self.failure = None, None, None
        self._opened = {}  # note -> parsed checkpoint or error (each note verified once)

    def fail(self, seq, reason, detail):
        if self.failure is None:
            self.failure = {"seq": seq, "reason": reason, "detail": detail}
        return False

    def verify_signature(self, note):
        """Opens the note with all keys and parses its checkpoint; ValueError if not genuine."""
        if note not in self._opened:
            try:
                if not self.keys:
                    raise ValueError("no public key to verify checkpoints with")
                self._opened[note] = parse_checkpoint(open_note(note, self.keys))
            except ValueError as e:
                self._opened[note] = e
        result = self._opened[note]
        if isinstance(result, ValueError):
            raise result
        return result

    def set_trusted(self, note):
        # Tolerate the trailing newline tools add when a note is saved (`jq -r`, editors).
        note = note.rstrip("\n\r ") + "\n"
        try:
            cp = self.verify_signature(note)
        except ValueError as e:
            raise Unusable(f"the trusted checkpoint is unusable: {e}") from None
        if cp[0] != self.origin:
            raise Unusable(f"the trusted checkpoint is for {cp[0]}, not {self.origin}")
        self.trusted = cp
        self.check_trusted()

    def check_trusted(self):
        cp = self.trusted
        if cp and cp[1] == self.next_seq and cp[2] != self.frontier.root():
            self.fail(self.vouched, "checkpoint_root_mismatch",
                      f"the trusted checkpoint of size {cp[1]} does not match the entries: "
                      + first_altered(self.vouched, cp[1]))

    def entry(self, line_seq, raw, prev_hash, ehash):
        if self.failure:
            return False
        k = self.next_seq
        if line_seq > k:
            return self.fail(k, "seq_gap", f"entry {k} is missing (next entry is {line_seq})")
        if line_seq < k:
            return self.fail(k, "seq_mismatch", f"entry {line_seq} appears again after {k}")
        try:
            e = parse_entry(raw)
        except (ValueError, TypeError, AttributeError) as x:
            return self.fail(k, "unparseable", f"entry {k} is not a valid entry: {x}")
        broken = entry_rules(e)
        if broken:
            return self.fail(k, "invalid_entry", f"entry {k}: {broken}")
        if e["seq"] != k or e["chain"] != self.chain:
            return self.fail(k, "seq_mismatch",
                             f"position {k} holds an entry claiming chain {e['chain']} seq {e['seq']}")
        try:
            canonical = entry_canonical(e)
        except (ValueError, UnicodeError) as x:
            return self.fail(k, "unparseable", f"entry {k}: {x}")
        if prev_hash != self.prev:
            return self.fail(k, "prev_hash_mismatch",
                             f"entry {k} links to {prev_hash.hex()} but the previous entry hashes to {self.prev.hex()}")
        computed = entry_hash(self.prev, canonical)
        if computed != ehash:
            return self.fail(k, "entry_hash_mismatch",
                             f"entry {k} hashes to {computed.hex()} but records {ehash.hex()}: its content was changed")
        self.frontier.push(leaf_hash(computed))
        self.prev, self.next_seq = computed, k + 1
        self.apply_pending()
        self.check_trusted()
        return self.failure is None

    def checkpoint(self, size, note):
        if self.failure:
            return False
        try:
            origin, cp_size, root, _ = self.verify_signature(note)
        except ValueError as e:
            return self.fail(self.vouched, "checkpoint_signature_invalid", f"checkpoint {size}: {e}")
        if cp_size != size or origin != self.origin or cp_size < self.next_seq:
            return self.fail(self.vouched, "checkpoint_misplaced",
                             f"a checkpoint for {origin} size {cp_size} appears at size {self.next_seq} of {self.origin}")
        if cp_size > self.next_seq:
            if len(self.pending) >= MAX_PENDING:
                return self.fail(self.vouched, "checkpoint_misplaced",
                                 "too many checkpoints ahead of their entries")
            self.arrivals += 1
            bisect.insort(self.pending, (cp_size, self.arrivals, root, note))
            return True
        return self.apply_checkpoint(cp_size, root, note)

    def apply_checkpoint(self, size, root, note):
        self.checkpoints_checked += 1
        if root != self.frontier.root():
            return self.fail(self.vouched, "checkpoint_root_mismatch",
                             f"the checkpoint signed for size {size} does not match the entries: "
                             + first_altered(self.vouched, size))
        self.vouched, self.latest = size, (size, note)
        return True

    def apply_pending(self):
        # Held checkpoints are applied in size order, whatever order they arrived in.
        while self.pending and self.pending[0][0] == self.next_seq:
            size, _, root, note = self.pending.pop(0)
            if not self.apply_checkpoint(size, root, note):
                return

    def finish(self, expected_size):
        n = self.next_seq
        if self.failure:
            pass
        elif expected_size is not None and expected_size < n:
            self.fail(expected_size, "size_mismatch", f"{n} entries exist but the chain claims {expected_size}")
        elif self.pending:
            self.fail(n, "truncated", f"a signed checkpoint covers {self.pending[0][0]} entries but only {n} exist")
        elif expected_size is not None and expected_size > n:
            self.fail(n, "truncated", f"the chain claims {expected_size} entries but only {n} exist")
        elif self.trusted and self.trusted[1] > n:
            self.fail(n, "truncated", f"the trusted checkpoint covers {self.trusted[1]} entries but only {n} exist")
        else:
            covered = self.latest[0] if self.latest else 0  # size 0 vouches for nothing
            if covered < n:
                self.fail(covered, "unsigned_tail",
                          f"entries from {covered} to {n - 1} are not covered by any signed checkpoint")
        ok = self.failure is None
        return {"ok": ok, "chain": self.chain, "entries_checked": n,
                "checkpoints_checked": self.checkpoints_checked,
                "root_hash": self.frontier.root().hex() if ok else None,
                "first_failure": self.failure}


_LINE_FIELDS = ("type", "format", "chain", "origin", "tree_size", "seq", "entry",
                "prev_hash", "entry_hash", "note")
_SAFE_DEPTH = 400  # deeper lines are not handed to Python's recursive json parser


def _strings_ok(v):
    if isinstance(v, str):
        v.encode("utf-8")
    elif isinstance(v, dict):
        for k in v:
            k.encode("utf-8")


def parse_line(no, text):
    def bad(why):
        return Unusable(f"line {no}: {why}")

    depth, type_raw, entry_depth, span = scan_line(text)
    deep_entry = None
    if depth > _SAFE_DEPTH:
        # Only the raw `entry` member may legitimately nest; anything else this deep is a
        # type error. Cut the entry out (after an iterative syntax check) and parse the rest.
        if span is None or depth > entry_depth + 1 or not json_syntax_ok(text[span[0]:span[1]]):
            raise bad("not an export line (nesting)")
        text = text[:span[0]] + "null" + text[span[1]:]
        deep_entry = TooDeep()
    try:
        line = loads(text)
    except (ValueError, RecursionError) as e:
        raise bad(e) from None
    if isinstance(line, list):
        if len(line) != len(_LINE_FIELDS):
            raise bad(f"an array line must have {len(_LINE_FIELDS)} elements")
        line = Obj(zip(_LINE_FIELDS, line))
    if not isinstance(line, dict) or line.dup or not set(line) <= set(_LINE_FIELDS):
        raise bad("not an export line")
    if deep_entry is not None:
        line["entry"] = deep_entry
    if entry_depth >= MAX_JSON_NESTING + 1 and line.get("entry") is not None:
        line["entry"] = TooDeep()
    if not isinstance(line.get("type"), str) or type_raw is None or "\\" in type_raw:
        raise bad("type must be a string without escapes")
    for f in ("tree_size", "seq"):
        if line.get(f) is not None and not _uint(line[f], 64):
            raise bad(f"{f} must be an unsigned integer")
    for f in ("format", "origin", "prev_hash", "entry_hash", "note"):
        if line.get(f) is not None and not isinstance(line[f], str):
            raise bad(f"{f} must be a string")
    try:
        for f in _LINE_FIELDS:
            if f != "entry":
                _strings_ok(line.get(f))
        for k in line:
            k.encode("utf-8")
    except UnicodeError:
        raise bad("lone surrogate in a string") from None
    if line.get("chain") is not None and parse_uuid(line["chain"]) is None:
        raise bad("chain is not a UUID")
    return line


def need(line, no, field):
    if line.get(field) is None:
        raise Unusable(f"line {no}: missing field {field}")
    return line[field]


MAX_LINE_BYTES = 4 * 1024 * 1024
BLOCK_LINES = 4096
_BLANK = " \t\n\r\v\f" + "".join(sorted(_WHITE_SPACE))


def read_lines(data):
    """(line number, text) for each line, split on LF only (a CR before it is dropped),
    decoded (and length-checked) only when asked for."""
    pos, no = 0, 0
    while pos < len(data):
        end = data.find(b"\n", pos)
        raw, pos = (data[pos:], len(data)) if end < 0 else (data[pos:end], end + 1)
        raw = raw[:-1] if end >= 0 and raw.endswith(b"\r") else raw
        no += 1
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Unusable(f"line {no}: not UTF-8") from None
        if len(raw) > MAX_LINE_BYTES:
            raise Unusable(f"line {no}: line too long")
        yield no, text


def read_blocks(lines):
    """Blocks of up to BLOCK_LINES non-blank lines, as the reference reads them: a whole
    block is read (so an undecodable or over-long line anywhere in it makes the file
    unusable) before any of its lines is verified; blocks after the one in which
    verification fails are never read."""
    block = []
    for no, text in lines:
        if not text.strip(_BLANK):
            continue
        block.append((no, text))
        if len(block) == BLOCK_LINES:
            yield block
            block = []
    if block:
        yield block


def verify_export(data, keys, trusted_note=None):
    lines = read_lines(data)
    first = next(lines, None)
    if first is None:
        raise Unusable("the export has no header line")
    header = parse_line(1, first[1])
    if header["type"] != "header":
        raise Unusable("the export has no header line")
    if need(header, 1, "format") != "fundtrail-export/1":
        raise Unusable(f"line 1: unsupported format {header['format']!r}")
    chain = parse_uuid(need(header, 1, "chain"))
    v = Verifier(chain, need(header, 1, "origin"), keys)
    tree_size = need(header, 1, "tree_size")
    if trusted_note is not None:
        v.set_trusted(trusted_note)
    for no, text in (item for block in read_blocks(lines) for item in block):
        line = parse_line(no, text)
        if line["type"] == "entry":
            seq, entry = need(line, no, "seq"), need(line, no, "entry")
            prev = hex32(need(line, no, "prev_hash"))
            if prev is None:
                raise Unusable(f"line {no}: not a 32-byte hex hash")
            ehash = hex32(need(line, no, "entry_hash"))
            if ehash is None:
                raise Unusable(f"line {no}: not a 32-byte hex hash")
            go_on = v.entry(seq, entry, prev, ehash)
        elif line["type"] == "checkpoint":
            go_on = v.checkpoint(need(line, no, "tree_size"), need(line, no, "note"))
        else:
            raise Unusable(f"line {no}: unexpected line type {line['type']!r}")
        if not go_on:
            break
    return v.finish(tree_size)


# --------------------------------------------------------------------------- receipts


def verify_inclusion(leaf, index, size, proof, root):
    """RFC 9162 section 2.1.3.2, as docs/ledger-format.md writes it."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


_INSTANT = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]{1,9}))?Z")


def utc_instant(s):
    """`YYYY-MM-DDTHH:MM:SS[.f]Z` as (seconds part, fraction padded to 9 digits), or None."""
    m = isinstance(s, str) and _INSTANT.fullmatch(s)
    return m and (m.group(1), (m.group(2) or "").ljust(9, "0"))


_RECEIPT = {"chain": True, "seq": True, "entry_hash": True, "prev_hash": True, "entry": True,
            "inclusion_proof": True, "checkpoint": True, "leaf_hash": False, "replayed": False,
            "contract_id": False}
_PROOF = ("leaf_index", "tree_size", "hashes")
_CHECKPOINT = ("tree_size", "root_hash", "signed_at", "note")


def read_receipt(text):
    """The receipt's members, or Unusable: objects at the three levels, no duplicate or
    unknown member, the required ones present and not null, every hash 64 lower-case hex
    digits, the chain id canonical, signed_at a UTC time."""
    def bad(why):
        return Unusable(f"not a receipt: {why}")

    def members(obj, names, required, what):
        if not isinstance(obj, dict) or obj.dup:
            raise bad(f"{what} must be a JSON object without duplicate members")
        unknown = set(obj) - set(names)
        if unknown:
            raise bad(f"unknown member {sorted(unknown)[0]!r} in {what}")
        for name in required:
            if obj.get(name) is None:
                raise bad(f"missing member {name!r} in {what}")
        return obj

    if scan_line(text)[0] > MAX_JSON_NESTING:  # the reference parses the whole receipt first
        raise bad(f"nested deeper than {MAX_JSON_NESTING} arrays/objects")
    try:
        r = loads(text)
    except (ValueError, RecursionError) as e:
        raise bad(e) from None
    members(r, _RECEIPT, [k for k, req in _RECEIPT.items() if req], "the receipt")
    proof = members(r["inclusion_proof"], _PROOF, _PROOF, "inclusion_proof")
    cp = members(r["checkpoint"], _CHECKPOINT, _CHECKPOINT, "checkpoint")
    try:
        for obj in (r, proof, cp):
            for k, v in obj.items():
                if k != "entry":
                    _strings_ok(k)
                    _strings_ok(v)
    except UnicodeError:
        raise bad("lone surrogate in a string") from None
    if parse_uuid(r["chain"]) is None:
        raise bad("chain is not a UUID in canonical form")
    for name, v in (("seq", r["seq"]), ("leaf_index", proof["leaf_index"]),
                    ("tree_size", proof["tree_size"]), ("checkpoint.tree_size", cp["tree_size"])):
        if not _uint(v, 64):
            raise bad(f"{name} must be an unsigned integer")
    if r.get("replayed") is not None and not isinstance(r["replayed"], bool):
        raise bad("replayed must be a boolean")
    if "contract_id" in r and parse_uuid(r["contract_id"]) is None:
        raise bad("contract_id is not a UUID in canonical form")
    if not isinstance(proof["hashes"], list):
        raise bad("inclusion_proof.hashes must be a list")
    hashes = [r["entry_hash"], r["prev_hash"], cp["root_hash"], *proof["hashes"]]
    if r.get("leaf_hash") is not None:
        hashes.append(r["leaf_hash"])
    if any(hex32(h) is None for h in hashes):
        raise bad("a hash is not 64 lower-case hex digits")
    if not isinstance(cp["note"], str):
        raise bad("checkpoint.note must be a string")
    if not utc_instant(cp["signed_at"]):
        raise bad("checkpoint.signed_at is not a UTC time YYYY-MM-DDTHH:MM:SS[.fraction]Z")
    return r


def origin_names(origin, chain):
    name = "admin" if chain == "00000000-0000-0000-0000-000000000000" else chain
    return origin.endswith("/" + name) and len(origin) > len(name) + 1


def check_receipt(r, keys):
    """The checks of docs/ledger-format.md ("Receipts"), in order: (size, root) or
    (field, detail) of the first that fails."""
    cp = r["checkpoint"]
    try:
        origin, size, root, ext = parse_checkpoint(open_note(cp["note"], keys))
    except ValueError as e:
        return "checkpoint.note", f"the checkpoint does not verify: {e}"
    try:
        e = parse_entry(r["entry"])
    except (ValueError, TypeError, AttributeError) as x:
        return "entry", f"the entry is not valid: {x}"
    broken = entry_rules(e)
    if broken:
        return "entry", f"the entry is not valid: {broken}"
    computed = entry_hash(hex32(r["prev_hash"]), entry_canonical(e))
    if computed != hex32(r["entry_hash"]):
        return "entry_hash", f"the entry (with prev_hash) hashes to {computed.hex()}, not entry_hash"
    leaf = leaf_hash(computed)
    if r.get("leaf_hash") is not None and hex32(r["leaf_hash"]) != leaf:
        return "leaf_hash", "leaf_hash is not SHA-256(00 || entry_hash)"
    proof = r["inclusion_proof"]
    if proof["leaf_index"] != e["seq"]:
        return "inclusion_proof.leaf_index", f"the proof is for leaf {proof['leaf_index']}, the entry is seq {e['seq']}"
    if proof["tree_size"] != size:
        return "inclusion_proof.tree_size", f"the proof is for size {proof['tree_size']}, the signed note says {size}"
    if not verify_inclusion(leaf, e["seq"], size, [hex32(h) for h in proof["hashes"]], root):
        return "inclusion_proof.hashes", "the inclusion proof does not lead to the signed root"
    if r["seq"] != e["seq"]:
        return "seq", f"seq is {r['seq']} but the proven entry is seq {e['seq']}"
    if r["chain"] != e["chain"]:
        return "chain", f"chain is {r['chain']} but the proven entry is in chain {e['chain']}"
    if "contract_id" in r:
        derived = str(uuid.uuid5(uuid.UUID(e["chain"]), str(e["seq"])))
        if e["kind"] != "contract" or r["contract_id"] != derived:
            return "contract_id", f"contract_id is {r['contract_id']} but a contract at seq {e['seq']} is {derived}"
    if not origin_names(origin, e["chain"]):
        return "checkpoint.note", f"the signed checkpoint's origin {origin!r} does not name chain {e['chain']}"
    if cp["tree_size"] != size:
        return "checkpoint.tree_size", f"checkpoint.tree_size is {cp['tree_size']} but the signed note says {size}"
    if hex32(cp["root_hash"]) != root:
        return "checkpoint.root_hash", f"checkpoint.root_hash is not the signed root {root.hex()}"
    signed = next((x[5:] for x in ext if x.startswith("time ")), None)
    if signed is None or utc_instant(signed) != utc_instant(cp["signed_at"]):
        return "checkpoint.signed_at", f"checkpoint.signed_at is {cp['signed_at']} but the signed time is {signed}"
    return size, root


def verify_receipt(text, keys):
    """Report for a receipt (JSON text); Unusable if it cannot be read."""
    r = read_receipt(text)
    result = check_receipt(r, keys)
    if isinstance(result[0], str):
        return {"ok": False, "chain": None, "seq": None, "tree_size": None, "root_hash": None,
                "failure": {"field": result[0], "detail": result[1]}}
    return {"ok": True, "chain": r["chain"], "seq": r["seq"], "tree_size": result[0],
            "root_hash": result[1].hex(), "failure": None}


def check_documents(data, directory):
    """Every document the export's `evidence_attached` entries cite (docs/domain.md,
    "Evidence documents") must be `directory/<sha256>` (or `directory/sha256/<2 hex>/<sha256>`)
    with the recorded SHA-256 and size. A report like `fundtrail verify --documents`."""
    problems, checked = [], 0
    for raw in data.split(b"\n"):
        if not raw.strip():
            continue
        line = json.loads(raw)
        entry = line.get("entry") if line.get("type") == "entry" else None
        if not entry or entry.get("kind") != "evidence_attached":
            continue
        body = entry["body"]
        checked += 1
        sha, size, cited = body["sha256"], body["size_bytes"], body["entry"]
        path = None
        for candidate in (os.path.join(directory, sha), os.path.join(directory, "sha256", sha[:2], sha)):
            if os.path.isfile(candidate):
                path = candidate
                break
        if path is None:
            problems.append({"seq": entry["seq"], "entry": cited, "sha256": sha, "problem": "missing"})
            continue
        with open(path, "rb") as f:
            content = f.read()
        if hashlib.sha256(content).hexdigest() != sha or len(content) != size:
            problems.append({"seq": entry["seq"], "entry": cited, "sha256": sha, "problem": "changed"})
    return {"ok": not problems, "documents_checked": checked, "problems": problems}


def main(argv=None):
    ap = argparse.ArgumentParser(description="Verify a fundtrail export or receipt offline.")
    what = ap.add_mutually_exclusive_group(required=True)
    what.add_argument("--export", help="export file (JSON lines), - for stdin")
    what.add_argument("--receipt", help="a receipt (JSON), as an append answered it")
    ap.add_argument("--public-key", required=True, help="verifier keys, one per line")
    ap.add_argument("--checkpoint", help="a signed checkpoint note saved earlier (exports)")
    ap.add_argument("--documents", help="a directory of the evidence documents the export cites")
    args = ap.parse_args(argv)
    try:
        with open(args.public_key, encoding="utf-8", newline="") as f:
            keys = read_key_lines(f.read().split("\n"))
        if args.receipt:
            with open(args.receipt, encoding="utf-8", newline="") as f:
                report = verify_receipt(f.read(), keys)
            print(json.dumps(report, indent=2, ensure_ascii=False))
            return 0 if report["ok"] else 1
        trusted = None
        if args.checkpoint:
            with open(args.checkpoint, encoding="utf-8", newline="") as f:
                trusted = f.read()
        if args.export == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(args.export, "rb") as f:
                data = f.read()
        report = verify_export(data, keys, trusted)
        documents = None
        if args.documents and report["ok"]:
            documents = check_documents(data, args.documents)
    except (Unusable, ValueError, KeyError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2, ensure_ascii=False))
    if documents is not None:
        print(json.dumps(documents, indent=2, ensure_ascii=False))
        return 0 if documents["ok"] else 1
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
