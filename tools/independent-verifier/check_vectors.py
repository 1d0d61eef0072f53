#!/usr/bin/env python3
"""Checks tests/vectors/ledger-vectors.json against verify.py (and, with --rust BIN, against
`BIN verify` and `BIN verify-receipt`). Python 3.11 standard library only.

    python3 check_vectors.py [--vectors FILE] [--rust PATH-TO-fundtrail]

Exit 0 when every value, every export case and every receipt case agrees, 1 otherwise.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import verify as V  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT = os.path.join(HERE, "..", "..", "tests", "vectors", "ledger-vectors.json")


def summary(report):
    ff = report["first_failure"]
    return {k: report[k] for k in ("ok", "entries_checked", "checkpoints_checked", "root_hash")} | {
        "first_failure": ff and {"seq": ff["seq"], "reason": ff["reason"]}}


def receipt_summary(report):
    failure = report.get("failure")
    return {k: report.get(k) for k in ("ok", "chain", "seq", "tree_size", "root_hash")} | {
        "field": failure.get("field") if isinstance(failure, dict) else failure}


def run_python(case):
    try:
        keys = V.read_key_lines(case["verifier_keys"])
        if "receipt" in case:
            report = V.verify_receipt(case["receipt"], keys)
            return (0 if report["ok"] else 1), receipt_summary(report)
        report = V.verify_export(case["export"].encode("utf-8"), keys, case.get("trusted_checkpoint"))
    except (V.Unusable, ValueError):
        return 2, None
    return (0 if report["ok"] else 1), summary(report)


def run_rust(binary, case):
    """`BIN verify` on an export case, `BIN verify-receipt` on a receipt case."""
    with tempfile.TemporaryDirectory() as d:
        paths = {}
        for name, text in (("export.jsonl", case.get("export")), ("receipt.json", case.get("receipt")),
                           ("keys.txt", "\n".join(case["verifier_keys"]) + "\n"),
                           ("trusted.note", case.get("trusted_checkpoint"))):
            if text is not None:
                paths[name] = os.path.join(d, name)
                with open(paths[name], "w", encoding="utf-8", newline="") as f:
                    f.write(text)
        if "receipt.json" in paths:
            cmd = [binary, "verify-receipt", "--receipt", paths["receipt.json"]]
        else:
            cmd = [binary, "verify", "--export", paths["export.jsonl"]]
        cmd += ["--public-key", paths["keys.txt"]]
        if "trusted.note" in paths:
            cmd += ["--checkpoint", paths["trusted.note"]]
        p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode == 2:
        return 2, None
    report = json.loads(p.stdout)
    return p.returncode, receipt_summary(report) if "receipt.json" in paths else summary(report)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vectors", default=DEFAULT)
    ap.add_argument("--rust", help="path of a fundtrail binary to check as well")
    args = ap.parse_args()
    with open(args.vectors, encoding="utf-8") as f:
        vec = json.load(f)
    failures = 0

    def check(what, ok):
        nonlocal failures
        if not ok:
            failures += 1
            print("MISMATCH", what)

    g = vec["golden_entry"]
    canon = V.entry_canonical(V.parse_entry(V.loads(json.dumps(g["entry"], ensure_ascii=False))))
    check("golden canonical", canon.decode() == g["canonical"] and canon.hex() == g["canonical_utf8_hex"])
    h = V.entry_hash(bytes.fromhex(g["prev_hash"]), canon)
    check("golden entry_hash", h.hex() == g["entry_hash"])
    check("golden leaf hash", V.leaf_hash(h).hex() == g["leaf_hash"] == g["tree_root_size_1"])

    t = vec["three_entry_chain"]
    key = V.parse_verifier_key(t["verifier_key"])
    prev, frontier = V.ZERO_HASH, V.Frontier()
    check("root 0", frontier.root().hex() == t["roots"]["0"])
    for e in t["entries"]:
        c = V.entry_canonical(V.parse_entry(V.loads(e["canonical"])))
        h = V.entry_hash(prev, c)
        check(f"entry {e['seq']}", c.decode() == e["canonical"] and prev.hex() == e["prev_hash"]
              and h.hex() == e["entry_hash"] and V.leaf_hash(h).hex() == e["leaf_hash"])
        frontier.push(V.leaf_hash(h))
        prev = h
        check(f"root {frontier.size}", frontier.root().hex() == t["roots"][str(frontier.size)])
    for size, note in t["checkpoint_notes"].items():
        origin, n, root, _ = V.parse_checkpoint(V.open_note(note, [key]))
        check(f"checkpoint {size}", origin == t["origin"] and str(n) == size and root.hex() == t["roots"][size])

    for case in vec["exports"]["cases"]:
        want = (case["exit_code"], case["expected"])
        got = run_python(case)
        check(f"python: {case['name']}: want {want}, got {got}", got == want)
        if args.rust:
            got = run_rust(args.rust, case)
            check(f"rust: {case['name']}: want {want}, got {got}", got == want)
    for case in vec["receipts"]["cases"]:
        want = (case["exit_code"], case["expected"])
        got = run_python(case)
        check(f"python: receipt: {case['name']}: want {want}, got {got}", got == want)
        if args.rust:
            got = run_rust(args.rust, case)
            check(f"rust: receipt: {case['name']}: want {want}, got {got}", got == want)
    n, m = len(vec["exports"]["cases"]), len(vec["receipts"]["cases"])
    print(f"{n} export cases, {m} receipt cases{' (Python and Rust)' if args.rust else ''}; mismatches: {failures}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
