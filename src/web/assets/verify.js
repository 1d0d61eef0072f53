// Checks, in the browser, that an entry is in the ledger (docs/ledger-format.md):
// 1. its entry hash from its canonical bytes (RFC 8785) and its predecessor's hash;
// 2. the Merkle root from that hash and the inclusion proof (RFC 9162 §2.1.3.2);
// 3. the signed checkpoint note: its origin, size and root against the proof's;
// 4. the note's Ed25519 signatures against the verifier keys the user trusts.
// SHA-256 and Ed25519 are WebCrypto's. Nothing is taken from the server beyond the four
// text boxes, which the user may replace with copies of their own.
"use strict";
(function () {
  const enc = new TextEncoder();
  const $ = (id) => document.getElementById(id);
  const hex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, "0")).join("");
  function unhex(s) {
    if (!/^([0-9a-f]{2})*$/.test(s)) throw new Error("not lower-case hex: " + s.slice(0, 20));
    const out = new Uint8Array(s.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(2 * i, 2), 16);
    return out;
  }
  function unb64(s) {
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    if (btoa(bin) !== s) throw new Error("base64 is not canonical");
    return out;
  }
  const b64 = (u8) => btoa(String.fromCharCode(...u8));
  const concat = (...parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) { out.set(p, o); o += p.length; }
    return out;
  };
  const sha256 = async (u8) => new Uint8Array(await crypto.subtle.digest("SHA-256", u8));
  const eq = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

  // RFC 8785 for the values an entry holds: JSON.stringify writes strings and safe
  // integers exactly as JCS does; members are sorted by UTF-16 code units (JS's order).
  function jcs(v) {
    if (v === null || typeof v !== "object") {
      if (typeof v === "number" && !Number.isSafeInteger(v)) throw new Error("a number that is not a safe integer");
      return JSON.stringify(v);
    }
    if (Array.isArray(v)) return "[" + v.map(jcs).join(",") + "]";
    const keys = Object.keys(v).sort();
    return "{" + keys.map((k) => JSON.stringify(k) + ":" + jcs(v[k])).join(",") + "}";
  }

  const TAG = concat(enc.encode("fundtrail/ledger/entry/v1"), new Uint8Array([0]));
  const NH = (l, r) => sha256(concat(new Uint8Array([1]), l, r));

  async function rootFromProof(leaf, index, size, path) {
    if (index >= size) throw new Error("leaf index " + index + " is not below tree size " + size);
    let fn = BigInt(index), sn = BigInt(size) - 1n, r = leaf;
    for (const p of path) {
      if (sn === 0n) throw new Error("the proof is too long");
      if ((fn & 1n) === 1n || fn === sn) {
        r = await NH(p, r);
        if ((fn & 1n) === 0n) while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
      } else {
        r = await NH(r, p);
      }
      fn >>= 1n; sn >>= 1n;
    }
    if (sn !== 0n) throw new Error("the proof is too short");
    return r;
  }

  async function parseKey(line) {
    const i = line.indexOf("+"), j = line.indexOf("+", i + 1);
    if (i < 1 || j < 0) throw new Error("a verifier key is name+keyid+base64: " + line);
    const name = line.slice(0, i), id = line.slice(i + 1, j), raw = unb64(line.slice(j + 1));
    if (raw.length !== 33 || raw[0] !== 1) throw new Error("key " + name + " is not an Ed25519 key");
    const pk = raw.slice(1);
    const h = await sha256(concat(enc.encode(name), new Uint8Array([10, 1]), pk));
    if (hex(h.slice(0, 4)) !== id) throw new Error("key " + name + ": the key id does not match the key");
    const key = await crypto.subtle.importKey("raw", pk, { name: "Ed25519" }, false, ["verify"]);
    return { name, id, key };
  }

  async function run() {
    const steps = $("v-steps"), result = $("v-result");
    steps.textContent = "";
    result.className = "";
    result.textContent = "Checking…";
    const step = (ok, text) => {
      const li = document.createElement("li");
      li.className = ok ? "ok" : "bad";
      li.textContent = text;
      steps.appendChild(li);
    };
    let current = "reading the inputs";
    try {
      const stored = JSON.parse($("v-entry").value);
      const proof = JSON.parse($("v-proof").value);
      const note = $("v-note").value;
      const keyLines = $("v-keys").value.split("\n").map((s) => s.trim()).filter(Boolean);
      try { localStorage.setItem("fundtrail.trusted-keys", keyLines.join("\n")); } catch (_) { /* private mode */ }

      current = "the entry hash";
      const entry = stored.entry;
      const canonical = enc.encode(jcs(entry));
      const entryHash = await sha256(concat(TAG, unhex(stored.prev_hash), canonical));
      if (hex(entryHash) !== stored.entry_hash) throw new Error("SHA-256(tag, prev_hash, canonical entry) is " + hex(entryHash) + ", not the stated " + stored.entry_hash);
      if (proof.entry_hash !== stored.entry_hash) throw new Error("the proof is for entry hash " + proof.entry_hash + ", not this entry's");
      step(true, "Entry hash: SHA-256 of the domain tag, the previous entry's hash and the entry's " + canonical.length + " canonical bytes is " + hex(entryHash) + ".");

      current = "the inclusion proof";
      const ip = proof.inclusion_proof;
      if (ip.leaf_index !== entry.seq) throw new Error("the proof is for leaf " + ip.leaf_index + ", not seq " + entry.seq);
      const leaf = await sha256(concat(new Uint8Array([0]), entryHash));
      const root = await rootFromProof(leaf, ip.leaf_index, ip.tree_size, ip.hashes.map(unhex));
      step(true, "Inclusion proof: " + ip.hashes.length + " hashes from leaf " + ip.leaf_index + " lead to root " + hex(root) + " of a tree of " + ip.tree_size + " entries.");

      current = "the checkpoint";
      const cut = note.lastIndexOf("\n\n");
      if (cut < 0) throw new Error("the note has no blank line before its signatures");
      const body = note.slice(0, cut + 1);
      const lines = body.split("\n");
      const [origin, size, rootB64] = lines;
      if (!origin.endsWith("/" + entry.chain) && !(origin.endsWith("/admin"))) throw new Error("the checkpoint's origin " + origin + " is not this entry's chain");
      if (size !== String(ip.tree_size)) throw new Error("the checkpoint is of size " + size + ", the proof of size " + ip.tree_size);
      if (!eq(unb64(rootB64), root)) throw new Error("the checkpoint's root " + rootB64 + " is not the root the proof leads to (" + b64(root) + ")");
      step(true, "Checkpoint: origin " + origin + ", size " + size + ", root equal to the proof's root; " + (lines[3] || "") + ".");

      current = "the signatures";
      const keys = [];
      for (const l of keyLines) keys.push(await parseKey(l));
      if (keys.length === 0) throw new Error("no trusted key given");
      let verified = 0;
      for (const sl of note.slice(cut + 2).split("\n").filter(Boolean)) {
        if (!sl.startsWith("\u2014 ")) throw new Error("a signature line must start with an em dash");
        const [name, sig64] = sl.slice(2).split(" ");
        const raw = unb64(sig64);
        if (raw.length !== 68) throw new Error("a signature by " + name + " is not 68 bytes");
        const id = hex(raw.slice(0, 4));
        const known = keys.find((k) => k.name === name && k.id === id);
        if (!known) continue;
        const ok = await crypto.subtle.verify({ name: "Ed25519" }, known.key, raw.slice(4), enc.encode(body));
        if (!ok) throw new Error("the signature by trusted key " + name + "+" + id + " does not verify");
        verified++;
        step(true, "Signature by trusted key " + name + "+" + id + " verifies (Ed25519) over the checkpoint.");
      }
      if (verified === 0) throw new Error("no signature by a key you trust");
      result.className = "ok";
      result.textContent = "Verified: entry #" + entry.seq + " is in the ledger at the checkpoint of size " + size + " signed by a key you trust.";
    } catch (e) {
      step(false, "Failed at " + current + ": " + e.message);
      result.className = "bad";
      result.textContent = "REJECTED: " + current + " failed — " + e.message;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    try {
      const saved = localStorage.getItem("fundtrail.trusted-keys");
      if (saved) $("v-keys").value = saved;
    } catch (_) { /* private mode */ }
    $("v-run").addEventListener("click", run);
    run();
  });
})();
