#!/usr/bin/env python3
"""Independent verifier for fundtrail ledger exports (format `fundtrail-export/1`).

Written from docs/ledger-format.md only, Python 3.11 standard library only.

    python3 verify.py --export FILE --public-key FILE [--checkpoint FILE]

Prints a JSON report {ok, chain, entries_checked, checkpoints_checked, root_hash,
first_failure: {seq, reason, detail} | null}. Exit 0: intact, 1: tampered, 2: unusable input.
"""

import argparse
import base64
import datetime
import decimal
import hashlib
import json
import re
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


def ed25519_verify(public, msg, sig):
    if len(public) != 32 or len(sig) != 64:
        return False
    a = _decode(public)
    s = int.from_bytes(sig[32:], "little")
    if a is None or s >= _L:
        return False
    k = int.from_bytes(hashlib.sha512(sig[:32] + public + msg).digest(), "little") % _L
    neg_a = ((_P - a[0]) % _P, a[1], a[2], (_P - a[3]) % _P)
    return _encode(_add(_mul(s, _G), _mul(k, neg_a))) == sig[:32]


# --------------------------------------------------------------------------- helpers


class Unusable(Exception):
    """The input cannot be verified at all (exit 2)."""


class BadNumber:
    """A JSON number no IEEE double can hold (kept so the entry, not the line, fails)."""


def b64_strict(s):
    """Standard base64 with padding; non-canonical encodings are refused."""
    try:
        raw = base64.b64decode(s, validate=True)
    except (ValueError, TypeError):
        return None
    return raw if base64.b64encode(raw).decode() == s else None


def hex32(s):
    if not isinstance(s, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", s):
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


# --------------------------------------------------------------------------- entries

ENTRY_TAG = b"fundtrail/ledger/entry/v1\x00"
ZERO_HASH = bytes(32)
_FIELDS = {"v", "chain", "seq", "kind", "business_date", "recorded_at", "principal",
           "idempotency_key", "body"}
_UUID = re.compile(r"(?:urn:uuid:|\{)?([0-9a-fA-F]{8})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{4})-?"
                   r"([0-9a-fA-F]{4})-?([0-9a-fA-F]{12})\}?")


def parse_uuid(s):
    m = isinstance(s, str) and _UUID.fullmatch(s)
    if not m or (s.startswith("{") != s.endswith("}")) or (len(s) not in (32, 36, 38, 45)):
        return None
    return "-".join(m.groups()).lower()


def _uint(v, bits):
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**bits


def entry_canonical(e):
    """The canonical bytes of an entry object, or ValueError if it is not a valid entry."""
    if not isinstance(e, dict) or e.dup or set(e) != _FIELDS:
        raise ValueError("fields must be exactly " + ", ".join(sorted(_FIELDS)))
    if not _uint(e["v"], 32) or not _uint(e["seq"], 64):
        raise ValueError("v and seq must be unsigned integers")
    chain = parse_uuid(e["chain"])
    if chain is None:
        raise ValueError("chain is not a UUID")
    for f in ("kind", "idempotency_key"):
        if not isinstance(e[f], str):
            raise ValueError(f"{f} must be a string")
    d = e["business_date"]
    if not isinstance(d, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", d):
        raise ValueError("business_date must be YYYY-MM-DD")
    datetime.date.fromisoformat(d)
    t = e["recorded_at"]
    if not isinstance(t, str) or not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", t):
        raise ValueError("recorded_at must be UTC with six fractional digits and Z")
    datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ")
    p = e["principal"]
    if not isinstance(p, dict) or p.dup or set(p) != {"id", "role"} or \
            not all(isinstance(p[k], str) for k in p):
        raise ValueError("principal must be {id, role} strings")
    obj = dict(e, chain=chain)
    return chain, jcs(obj).encode("utf-8")


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

_WHITE_SPACE = set("\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | \
    {chr(c) for c in range(0x2000, 0x200B)}


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


def open_note(note, keys):
    """Returns the signed text if at least one known key signed it and no known key's
    signature fails (C2SP signed-note, Go note.Open semantics)."""
    _no_controls(note)
    split = note.rfind("\n\n")
    if split < 0:
        raise ValueError("missing signature block")
    text, sigs = note[: split + 1], note[split + 2:]
    if not sigs:
        raise ValueError("missing signature block")
    if not sigs.endswith("\n"):
        raise ValueError("missing final newline")
    verified, seen = 0, set()
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
        if len(matches) > 1:
            raise ValueError(f"ambiguous key {name}+{raw[:4].hex()}")
        if (name, raw[:4]) in seen:
            continue
        seen.add((name, raw[:4]))
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


def checkpoint_body(note):
    """The checkpoint inside a signed note, signature NOT checked."""
    i = note.rfind("\n\n")
    if i < 0:
        raise ValueError("not a signed note")
    return parse_checkpoint(note[:i] + "\n")


# --------------------------------------------------------------------------- verification


class Verifier:
    def __init__(self, chain, origin, keys):
        self.chain, self.origin, self.keys = chain, origin, keys
        self.next_seq, self.prev, self.frontier = 0, ZERO_HASH, Frontier()
        self.vouched, self.checkpoints_checked = 0, 0
        self.latest, self.trusted, self.failure = None, None, None

    def fail(self, seq, reason, detail):
        if self.failure is None:
            self.failure = {"seq": seq, "reason": reason, "detail": detail}
        return False

    def verify_signature(self, note):
        if not self.keys:
            raise ValueError("no public key to verify checkpoints with")
        return parse_checkpoint(open_note(note, self.keys))

    def set_trusted(self, note):
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
                      f"the trusted checkpoint of size {cp[1]} does not match the entries")

    def entry(self, line_seq, entry, prev_hash, ehash):
        if self.failure:
            return False
        k = self.next_seq
        if line_seq > k:
            return self.fail(k, "seq_gap", f"entry {k} is missing (next entry is {line_seq})")
        if line_seq < k:
            return self.fail(k, "seq_mismatch", f"entry {line_seq} appears again after {k}")
        try:
            chain, canonical = entry_canonical(entry)
        except (ValueError, TypeError, UnicodeError, AttributeError) as e:
            return self.fail(k, "unparseable", f"entry {k} is not a valid entry: {e}")
        if entry["seq"] != k or chain != self.chain:
            return self.fail(k, "seq_mismatch",
                             f"position {k} holds an entry claiming chain {chain} seq {entry['seq']}")
        if prev_hash != self.prev:
            return self.fail(k, "prev_hash_mismatch",
                             f"entry {k} links to {prev_hash.hex()} but the previous entry hashes to {self.prev.hex()}")
        computed = entry_hash(self.prev, canonical)
        if computed != ehash:
            return self.fail(k, "entry_hash_mismatch",
                             f"entry {k} hashes to {computed.hex()} but records {ehash.hex()}")
        self.frontier.push(leaf_hash(computed))
        self.prev, self.next_seq = computed, k + 1
        self.check_trusted()
        return self.failure is None

    def checkpoint(self, size, note):
        if self.failure:
            return False
        try:
            origin, cp_size, root, _ = checkpoint_body(note)
        except ValueError as e:
            return self.fail(self.vouched, "checkpoint_signature_invalid", f"checkpoint {size}: {e}")
        if cp_size != size or cp_size != self.next_seq or origin != self.origin:
            return self.fail(self.vouched, "checkpoint_root_mismatch",
                             f"checkpoint for {origin} size {cp_size} is out of place at size {self.next_seq}")
        self.checkpoints_checked += 1
        if root != self.frontier.root():
            try:
                self.verify_signature(note)
            except ValueError as e:
                return self.fail(self.vouched, "checkpoint_signature_invalid", f"checkpoint {size}: {e}")
            return self.fail(self.vouched, "checkpoint_root_mismatch",
                             f"the checkpoint signed for size {size} does not match the entries: "
                             f"the first altered entry is in [{self.vouched}, {size})")
        self.vouched, self.latest = size, (size, note)
        return True

    def finish(self, header_size):
        n = self.next_seq
        if self.failure:
            pass
        elif header_size > n:
            self.fail(n, "truncated", f"the export claims {header_size} entries but only {n} exist")
        elif self.trusted and self.trusted[1] > n:
            self.fail(n, "truncated", f"the trusted checkpoint covers {self.trusted[1]} entries but only {n} exist")
        elif self.latest:
            size, note = self.latest
            try:
                self.verify_signature(note)
                if size < n:
                    self.fail(size, "unsigned_tail", f"entries from {size} to {n - 1} are not covered by any signed checkpoint")
            except ValueError as e:
                self.fail(self.vouched, "checkpoint_signature_invalid", f"checkpoint {size}: {e}")
        elif n > 0:
            self.fail(0, "unsigned_tail", f"no signed checkpoint covers the {n} entries")
        ok = self.failure is None
        return {"ok": ok, "chain": self.chain, "entries_checked": n,
                "checkpoints_checked": self.checkpoints_checked,
                "root_hash": self.frontier.root().hex() if ok else None,
                "first_failure": self.failure}


_LINE_FIELDS = {"type", "format", "chain", "origin", "tree_size", "seq", "entry",
                "prev_hash", "entry_hash", "note"}


def parse_line(no, text):
    try:
        line = loads(text)
    except ValueError as e:
        raise Unusable(f"line {no}: {e}") from None
    if not isinstance(line, dict) or line.dup or not set(line) <= _LINE_FIELDS \
            or not isinstance(line.get("type"), str):
        raise Unusable(f"line {no}: not an export line")
    for f in ("tree_size", "seq"):
        if line.get(f) is not None and not _uint(line[f], 64):
            raise Unusable(f"line {no}: {f} must be an unsigned integer")
    for f in ("format", "origin", "prev_hash", "entry_hash", "note"):
        if line.get(f) is not None and not isinstance(line[f], str):
            raise Unusable(f"line {no}: {f} must be a string")
    if line.get("chain") is not None and parse_uuid(line["chain"]) is None:
        raise Unusable(f"line {no}: chain is not a UUID")
    return line


def need(line, no, field):
    if line.get(field) is None:
        raise Unusable(f"line {no}: missing field {field}")
    return line[field]


def verify_export(data, keys, trusted_note=None):
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    texts = []
    for i, raw in enumerate(lines, 1):
        raw = raw[:-1] if raw.endswith(b"\r") else raw
        if len(raw) > 4 * 1024 * 1024:
            raise Unusable(f"line {i}: line too long")
        try:
            texts.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise Unusable(f"line {i}: not UTF-8") from None
    if not texts:
        raise Unusable("the export has no header line")
    header = parse_line(1, texts[0])
    if header["type"] != "header":
        raise Unusable("the export has no header line")
    if need(header, 1, "format") != "fundtrail-export/1":
        raise Unusable(f"line 1: unsupported format {header['format']!r}")
    chain = parse_uuid(need(header, 1, "chain"))
    v = Verifier(chain, need(header, 1, "origin"), keys)
    tree_size = need(header, 1, "tree_size")
    if trusted_note is not None:
        v.set_trusted(trusted_note)
    for no, text in enumerate(texts[1:], 2):
        if not text.strip():
            continue
        line = parse_line(no, text)
        if line["type"] == "entry":
            seq, entry = need(line, no, "seq"), need(line, no, "entry")
            prev = hex32(need(line, no, "prev_hash"))
            ehash = hex32(need(line, no, "entry_hash"))
            if prev is None or ehash is None:
                raise Unusable(f"line {no}: not a 32-byte hex hash")
            go_on = v.entry(seq, entry, prev, ehash)
        elif line["type"] == "checkpoint":
            go_on = v.checkpoint(need(line, no, "tree_size"), need(line, no, "note"))
        else:
            raise Unusable(f"line {no}: unexpected line type {line['type']!r}")
        if not go_on:
            break
    return v.finish(tree_size)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Verify a fundtrail export offline.")
    ap.add_argument("--export", required=True, help="export file (JSON lines), - for stdin")
    ap.add_argument("--public-key", required=True, help="verifier keys, one per line")
    ap.add_argument("--checkpoint", help="a signed checkpoint note saved earlier")
    args = ap.parse_args(argv)
    try:
        with open(args.public_key, encoding="utf-8") as f:
            keys = [parse_verifier_key(l.strip()) for l in f.read().split("\n")
                    if l.strip() and not l.strip().startswith("#")]
        if not keys:
            raise Unusable(f"{args.public_key} holds no verifier key")
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
    except (Unusable, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
