#!/usr/bin/env python3
"""Writes into tests/vectors/ledger-vectors.json the cases that need a signing key: signature
lines (several by one key, valid and invalid, unknown keys), key files (a key listed twice,
two keys colliding on name and key ID), the one spelling of hashes and UUIDs, and receipts.

The signing key is a test key whose Ed25519 seed is SHA-256 of a fixed string, so running
this again writes the same bytes. The expected verdicts are written here by hand from
docs/ledger-format.md; check_vectors.py then holds both verifiers to them. Python 3.11
standard library only.

    python3 make_vectors.py [--vectors FILE]
"""

import argparse
import base64
import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import verify as V  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT = os.path.join(HERE, "..", "..", "tests", "vectors", "ledger-vectors.json")

SEED_TEXT = "fundtrail test vectors: signature lines and receipts"
OTHER_SEED_TEXT = "fundtrail test vectors: a key nobody was given"
NAME = "fundtrail"
CHAIN = "5d8e2c7a-1f3b-4c6d-9e0a-7b2c4d6e8f10"
ADMIN = "00000000-0000-0000-0000-000000000000"
OTHER_CHAIN = "86807e3c-4ee6-4063-b922-5164384137b2"
# Two valid Ed25519 public keys with one name and one key ID (a birthday search over
# about 110,000 random points).
COLLIDING = ["fundtrail+9f21edd1+AT75mNGBhj4lK1NPedcJ7KOjlCiHWQrVtmAhsDIszfV7",
             "fundtrail+9f21edd1+AZrjSmFkJnKvnVxZyF7nM9+mBQe+GvR4juB0LSicvs/s"]
OLD_NAMES = {
    'business_date spelled "2026 - 11 - 20 " and chain id braced (lenient parsers, same entry)':
        'business_date spelled "2026 - 11 - 20 " and chain id braced: the date is read leniently, '
        'the UUID has one spelling (unparseable)',
    "chain id of seq 2 written as urn:uuid:, simple form in seq 1 (same entry)":
        "chain id of seq 1 in simple form and of seq 2 as urn:uuid: (unparseable at the first)",
}


# --------------------------------------------------------------------------- signing

def _clamped(seed):
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little") & ((1 << 254) - 8) | (1 << 254)
    return a, h[32:]


def public_key(seed):
    return V._encode(V._mul(_clamped(seed)[0], V._G))


def sign(seed, msg, salt=b""):
    """RFC 8032 Ed25519; a non-empty `salt` changes the nonce, giving another valid
    signature of the same message by the same key."""
    a, prefix = _clamped(seed)
    pub = public_key(seed)
    r = int.from_bytes(hashlib.sha512(salt + prefix + msg).digest(), "little") % V._L
    big_r = V._encode(V._mul(r, V._G))
    k = int.from_bytes(hashlib.sha512(big_r + pub + msg).digest(), "little") % V._L
    return big_r + ((r + k * a) % V._L).to_bytes(32, "little")


class Key:
    def __init__(self, name, seed_text):
        self.name, self.seed = name, hashlib.sha256(seed_text.encode()).digest()
        self.public = public_key(self.seed)
        self.key_id = V.key_id(name, b"\x01" + self.public)
        encoded = base64.b64encode(b"\x01" + self.public).decode()
        self.verifier = f"{name}+{self.key_id.hex()}+{encoded}"

    def line(self, text, salt=b"", flip=False):
        sig = bytearray(sign(self.seed, text.encode(), salt))
        if flip:
            sig[10] ^= 0x01
        return f"\u2014 {self.name} {base64.b64encode(self.key_id + bytes(sig)).decode()}\n"


def note(text, *lines):
    return text + "\n" + "".join(lines)


# --------------------------------------------------------------------------- a chain

def mth(leaves):
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return V.node_hash(mth(leaves[:k]), mth(leaves[k:]))


def path(m, leaves):
    """RFC 9162 PATH(m, D[n]), leaf to root."""
    if len(leaves) <= 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if m < k:
        return path(m, leaves[:k]) + [mth(leaves[k:])]
    return path(m - k, leaves[k:]) + [mth(leaves[:k])]


def entry_obj(chain, seq, at):
    """In declaration order, as the API returns it (re-canonicalised before hashing)."""
    return {"v": 1, "chain": chain, "seq": seq, "kind": "generic", "business_date": "2026-12-01",
            "recorded_at": at, "principal": {"id": "system", "role": "system"},
            "idempotency_key": f"k{seq + 1}",
            "body": {"amount": {"value": f"{20 + seq}.00", "currency": "EUR"}}}


class Chain:
    def __init__(self, chain, origin, times, key):
        self.chain, self.origin, self.key = chain, origin, key
        self.entries, self.leaves, prev = [], [], V.ZERO_HASH
        for seq, at in enumerate(times[1:]):
            e = entry_obj(chain, seq, at)
            canonical = V.jcs(e)
            h = V.entry_hash(prev, canonical.encode())
            self.entries.append({"entry": e, "canonical": canonical, "prev_hash": prev.hex(),
                                 "entry_hash": h.hex()})
            self.leaves.append(V.leaf_hash(h))
            prev = h
        self.times = times

    def text(self, size, origin=None):
        root = base64.b64encode(mth(self.leaves[:size])).decode()
        return f"{origin or self.origin}\n{size}\n{root}\ntime {self.times[size]}\n"

    def note(self, size):
        return note(self.text(size), self.key.line(self.text(size)))

    def export(self, notes=None):
        notes = notes or {}
        line = lambda o: json.dumps(o, ensure_ascii=False, separators=(",", ":"))  # noqa: E731
        out = [line({"chain": self.chain, "format": "fundtrail-export/1", "origin": self.origin,
                     "tree_size": len(self.entries), "type": "header"})]
        for size in range(len(self.entries) + 1):
            if size:
                e = self.entries[size - 1]
                out.append(f'{{"type":"entry","seq":{size - 1},"entry":{e["canonical"]},'
                           f'"prev_hash":"{e["prev_hash"]}","entry_hash":"{e["entry_hash"]}"}}')
            out.append(line({"note": notes.get(size, self.note(size)), "tree_size": size,
                             "type": "checkpoint"}))
        return "\n".join(out) + "\n"

    def receipt(self, seq, size):
        e = self.entries[seq]
        return {"chain": self.chain, "seq": seq, "entry_hash": e["entry_hash"],
                "prev_hash": e["prev_hash"], "entry": e["entry"],
                "inclusion_proof": {"leaf_index": seq, "tree_size": size,
                                    "hashes": [h.hex() for h in path(seq, self.leaves[:size])]},
                "checkpoint": {"tree_size": size, "root_hash": mth(self.leaves[:size]).hex(),
                               "signed_at": self.times[size], "note": self.note(size)},
                "replayed": False}


# --------------------------------------------------------------------------- cases

def export_cases(c, key, other):
    keys = [key.verifier]
    ok = {"ok": True, "entries_checked": 3, "checkpoints_checked": 4,
          "root_hash": mth(c.leaves).hex(), "first_failure": None}

    def bad_at_2(seq, reason):
        return {"ok": False, "entries_checked": 2, "checkpoints_checked": 2, "root_hash": None,
                "first_failure": {"seq": seq, "reason": reason}}

    t2 = c.text(2)
    valid, valid_2 = key.line(t2), key.line(t2, salt=b"second nonce")
    invalid = key.line(t2, flip=True)
    cases = [
        ("signature lines: clean export signed by the test key", {}, keys, 0, ok),
        ("checkpoint 2 signed twice by the same key (two different valid signatures)",
         {2: note(t2, valid, valid_2)}, keys, 0, ok),
        ("checkpoint 2 with its signature line repeated", {2: note(t2, valid, valid)}, keys, 0, ok),
        ("checkpoint 2: a valid then an invalid signature line by the same key",
         {2: note(t2, valid, invalid)}, keys, 1, bad_at_2(1, "checkpoint_signature_invalid")),
        ("checkpoint 2: an invalid then a valid signature line by the same key",
         {2: note(t2, invalid, valid)}, keys, 1, bad_at_2(1, "checkpoint_signature_invalid")),
        ("checkpoint 2 also carries an invalid line by a key not in the key file (ignored)",
         {2: note(t2, other.line(t2, flip=True), valid)}, keys, 0, ok),
        ("checkpoint 2 signed only by a key not in the key file",
         {2: note(t2, other.line(t2))}, keys, 1, bad_at_2(1, "checkpoint_signature_invalid")),
        ("key file lists the chain key twice (one key)", {}, keys + keys, 0, ok),
        ("key file holds two different keys with one name and key ID (a collision: unusable)",
         {}, keys + COLLIDING, 2, None),
    ]
    return [{"name": name, "verifier_keys": k, "export": c.export(notes), "exit_code": code,
             "expected": want} for name, notes, k, code, want in cases]


def spelling_cases(t):
    clean, keys = t["export"], [t["verifier_key"]]
    h1 = t["entries"][1]["entry_hash"]
    cases = [
        ("header chain id in upper case (unusable)",
         clean.replace('"chain":"86807e3c-4ee6-4063-b922-5164384137b2","format"',
                       '"chain":"86807E3C-4EE6-4063-B922-5164384137B2","format"', 1)),
        ("entry_hash of seq 1 in upper case (unusable)",
         clean.replace(f'"entry_hash":"{h1}"', f'"entry_hash":"{h1.upper()}"', 1)),
        ("prev_hash of seq 2 in upper case (unusable)",
         clean.replace(f'"prev_hash":"{h1}"', f'"prev_hash":"{h1.upper()}"', 1)),
    ]
    for _, text in cases:
        assert text != clean
    return [{"name": name, "verifier_keys": keys, "export": text, "exit_code": 2, "expected": None}
            for name, text in cases]


def receipt_cases(c, admin, key, other):
    keys = [key.verifier]

    def proven(r):
        return {"ok": True, "chain": r["chain"], "seq": r["seq"],
                "tree_size": r["checkpoint"]["tree_size"], "root_hash": r["checkpoint"]["root_hash"],
                "field": None}

    def refused(field):
        return {"ok": False, "chain": None, "seq": None, "tree_size": None, "root_hash": None,
                "field": field}

    cases = []

    def add(name, r, want, k=keys, code=None):
        text = r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)
        code = code if code is not None else (2 if want is None else 0 if want["ok"] else 1)
        cases.append({"name": name, "verifier_keys": k, "receipt": text, "exit_code": code,
                      "expected": want})

    def edited(base, edit):
        r = json.loads(json.dumps(base))
        edit(r)
        return r

    base = c.receipt(1, 3)
    t3 = c.text(3)
    add("entry 1 at size 3", base, proven(base))
    deep = json.dumps(base, ensure_ascii=False).replace(
        '"body": {', '"body": {"deep": ' + "[" * 124 + "]" * 124 + ", ", 1)
    add("nested 127 levels deep (124 arrays in the body: the entry breaks the body depth rule)",
        deep, refused("entry"))
    add("entry 2 at size 3 (the last leaf)", c.receipt(2, 3), proven(c.receipt(2, 3)))
    add("entry 0 at size 1 (an empty proof)", c.receipt(0, 1), proven(c.receipt(0, 1)))
    add("entry 1 at size 2 (an older checkpoint)", c.receipt(1, 2), proven(c.receipt(1, 2)))
    add("key file lists the key twice", base, proven(base), keys + keys)
    add("administrative chain, origin <log>/admin", admin.receipt(0, 1), proven(admin.receipt(0, 1)))
    same_instant = edited(base, lambda r: r["checkpoint"].update(signed_at="2026-12-01T09:00:03.125Z"))
    add("signed_at with fewer fraction digits (the same instant)", same_instant, proven(same_instant))
    two = edited(base, lambda r: r["checkpoint"].update(
        note=note(t3, key.line(t3), key.line(t3, salt=b"second nonce"))))
    add("note signed twice by the key (two different valid signatures)", two, proven(two))
    stranger = edited(base, lambda r: r["checkpoint"].update(note=note(t3, other.line(t3, flip=True), key.line(t3))))
    add("note also carries an invalid line by a key not in the key file (ignored)", stranger, proven(stranger))

    altered = [
        ("seq altered", lambda r: r.update(seq=2), "seq"),
        ("chain altered", lambda r: r.update(chain=OTHER_CHAIN), "chain"),
        ("checkpoint.tree_size altered", lambda r: r["checkpoint"].update(tree_size=2), "checkpoint.tree_size"),
        ("checkpoint.root_hash altered (the root of size 2)",
         lambda r: r["checkpoint"].update(root_hash=mth(c.leaves[:2]).hex()), "checkpoint.root_hash"),
        ("checkpoint.signed_at altered",
         lambda r: r["checkpoint"].update(signed_at="2026-12-01T09:00:03.126Z"), "checkpoint.signed_at"),
        ("an amount in the entry altered",
         lambda r: r["entry"]["body"]["amount"].update(value="21.50"), "entry_hash"),
        ("the entry's seq altered", lambda r: r["entry"].update(seq=2), "entry_hash"),
        ("entry_hash replaced by entry 2's", lambda r: r.update(entry_hash=c.entries[2]["entry_hash"]), "entry_hash"),
        ("prev_hash replaced by zeros", lambda r: r.update(prev_hash="00" * 32), "entry_hash"),
        ("a float in the entry's body", lambda r: r["entry"]["body"].update(n=12.5), "entry"),
        ("leaf_hash of another entry", lambda r: r.update(leaf_hash=c.leaves[0].hex()), "leaf_hash"),
        ("inclusion_proof.leaf_index altered",
         lambda r: r["inclusion_proof"].update(leaf_index=0), "inclusion_proof.leaf_index"),
        ("inclusion_proof.tree_size altered",
         lambda r: r["inclusion_proof"].update(tree_size=2), "inclusion_proof.tree_size"),
        ("inclusion_proof.hashes in the wrong order",
         lambda r: r["inclusion_proof"]["hashes"].reverse(), "inclusion_proof.hashes"),
        ("the proof of size 2 with the checkpoint of size 3",
         lambda r: r.update(inclusion_proof=dict(c.receipt(1, 2)["inclusion_proof"], tree_size=3)),
         "inclusion_proof.hashes"),
        ("note signed only by a key not in the key file",
         lambda r: r["checkpoint"].update(note=note(t3, other.line(t3))), "checkpoint.note"),
        ("note: a valid then an invalid line by the key",
         lambda r: r["checkpoint"].update(note=note(t3, key.line(t3), key.line(t3, flip=True))),
         "checkpoint.note"),
        ("note: its tree size edited", lambda r: r["checkpoint"].update(
            note=r["checkpoint"]["note"].replace("\n3\n", "\n4\n", 1)), "checkpoint.note"),
        ("note signed for another chain's origin over the same root",
         lambda r: r["checkpoint"].update(note=note(c.text(3, f"{NAME}/{OTHER_CHAIN}"),
                                                    key.line(c.text(3, f"{NAME}/{OTHER_CHAIN}")))),
         "checkpoint.note"),
    ]
    for name, edit, field in altered:
        add(name, edited(base, edit), refused(field))
    nil_origin = f"{NAME}/{ADMIN}"
    add("administrative chain, note with origin <log>/<nil UUID>",
        edited(admin.receipt(0, 1), lambda r: r["checkpoint"].update(
            note=note(admin.text(1, nil_origin), key.line(admin.text(1, nil_origin))))),
        refused("checkpoint.note"))

    text = json.dumps(base, ensure_ascii=False)
    unusable = [
        ("entry_hash in upper case", edited(base, lambda r: r.update(entry_hash=r["entry_hash"].upper()))),
        ("a proof hash in upper case", edited(base, lambda r: r["inclusion_proof"]["hashes"].__setitem__(
            0, r["inclusion_proof"]["hashes"][0].upper()))),
        ("chain braced", edited(base, lambda r: r.update(chain="{" + CHAIN + "}"))),
        ("chain in upper case", edited(base, lambda r: r.update(chain=CHAIN.upper()))),
        ("an unknown member", edited(base, lambda r: r.update(verified=True))),
        ("an unknown checkpoint member", edited(base, lambda r: r["checkpoint"].update(key_id=key.key_id.hex()))),
        ("no seq", edited(base, lambda r: r.pop("seq"))),
        ("checkpoint null", edited(base, lambda r: r.update(checkpoint=None))),
        ("signed_at with +00:00", edited(base, lambda r: r["checkpoint"].update(
            signed_at="2026-12-01T09:00:03.125000+00:00"))),
        ("inclusion_proof as an array", edited(base, lambda r: r.update(inclusion_proof=[1, 3, []]))),
        ("a duplicate member", text.replace('{"chain"', '{"seq": 1, "chain"', 1)),
        ("nested 128 levels deep (125 arrays in the body)",
         text.replace('"body": {', '"body": {"deep": ' + "[" * 125 + "]" * 125 + ", ", 1)),
        ("not JSON", text[:-1]),
    ]
    for name, r in unusable:
        add(f"unusable: {name}", r, None)
    add("unusable: key file holds two keys colliding on name and key ID", base, None, keys + COLLIDING)
    return cases


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vectors", default=DEFAULT)
    args = ap.parse_args()
    with open(args.vectors, encoding="utf-8") as f:
        vec = json.load(f)
    key, other = Key(NAME, SEED_TEXT), Key("witness.example", OTHER_SEED_TEXT)
    times = ["2026-12-01T09:00:00.000000Z", "2026-12-01T09:00:01.250000Z",
             "2026-12-01T09:00:02.500000Z", "2026-12-01T09:00:03.125000Z"]
    c = Chain(CHAIN, f"{NAME}/{CHAIN}", times, key)
    admin = Chain(ADMIN, f"{NAME}/admin", times[:2], key)

    cases = vec["exports"]["cases"]
    for case in cases:
        case["name"] = OLD_NAMES.get(case["name"], case["name"])
        if case["name"] in OLD_NAMES.values():
            case.update(exit_code=1, expected={
                "ok": False, "entries_checked": 1, "checkpoints_checked": 2, "root_hash": None,
                "first_failure": {"seq": 1, "reason": "unparseable"}})
    made = export_cases(c, key, other) + spelling_cases(vec["three_entry_chain"])
    names = {m["name"] for m in made}
    vec["exports"]["cases"] = [x for x in cases if x["name"] not in names] + made
    vec["test_key_chain"] = {
        "source": f"tools/independent-verifier/make_vectors.py: Ed25519 seed SHA-256({SEED_TEXT!r})",
        "chain": CHAIN, "origin": c.origin, "verifier_key": key.verifier,
        "checkpoint_notes": {str(s): c.note(s) for s in range(4)},
        "colliding_verifier_keys": COLLIDING,
    }
    vec["receipts"] = {
        "note": "expected = what `fundtrail verify-receipt --receipt F --public-key K` reports, F holding "
                "`receipt` byte for byte and K the lines of verifier_keys: exit_code 0 (proven), 1 (does not "
                "hold: `field` names the first member that fails, in the order of docs/ledger-format.md, "
                "\"Receipts\") or 2 (unusable input, expected is null). The Python verifier reproduces every "
                "case.",
        "cases": receipt_cases(c, admin, key, other),
    }
    with open(args.vectors, "w", encoding="utf-8") as f:
        f.write(json.dumps(vec, indent=2, ensure_ascii=False) + "\n")
    print(f"{len(vec['exports']['cases'])} export cases, {len(vec['receipts']['cases'])} receipt cases")


if __name__ == "__main__":
    main()
