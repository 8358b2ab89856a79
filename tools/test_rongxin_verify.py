"""Tests of tools/rongxin_verify.py, the independent Python verifier.

Run: python3 -m unittest discover -s tools -p 'test_*.py' -v

Fixtures (tools/fixtures/) were fetched from a real rongxin-node of the
example federation (config-examples/, member gulou) holding 7 entries:
bundles of seq 1 (a CF Put), 5 (a Revoke) and 6 (the last leaf), the entries
page, the checkpoint, and copies of root.pub and roster.signed.

Further cases use a synthetic federation whose keys are generated here, so
that altered content can be signed validly and each later step is reached:
a v1 Ed25519 federation (`Federation`), and v2 federations of either suite
with key histories (`Fed2`, `Log`: KeyHandover entries, pending and
compromised keys, bundles with `handovers`). The sm2-sm3 cases make their
SM2 keys and signatures with the `openssl` command (tools/sm2_openssl.py);
without an openssl 3 that does SM2 they fail with a message naming the fix.

Set RONGXINCTL=/path/to/rongxinctl to also check that `rongxinctl audit
verify` agrees with this tool on the real and tampered bundles, on bundles
built here (key histories, sm2-sm3), and that SM2 keys and rosters made by
rongxinctl read here. To compare more cases, build bundles with `Log.bundle`
and pass them to `AgreesWithRongxinctlOnKeyHistoriesAndSm2.compare`.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import rongxin_verify as rv  # noqa: E402
import sm2_openssl as sm2  # noqa: E402

FIX = HERE / "fixtures"
CATALOG = HERE.parent / "config-examples" / "catalog.toml"
TOOL = HERE / "rongxin_verify.py"
BUNDLES = ["bundle-gulou-1.json", "bundle-gulou-5.json", "bundle-gulou-6.json"]
TAIJIANG_KEY = "eOjDdOnO+Joftzeey60MVvqI2PPg/mhKCeaBSL5YrzQ="  # from roster.signed

GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_NOTE = ("If you think cryptography is the answer to your problem,\n"
           "then you don't know what your problem is.\n"
           "\n"
           "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n")

RFC6962_LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                  "606162636465666768696a6b6c6d6e6f"]
RFC6962_ROOT8 = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"


def b64e(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def b64d(s: str) -> bytes:
    return base64.b64decode(s)


def read(name: str) -> str:
    return (FIX / name).read_text(encoding="utf-8")


def load_bundle(name: str = BUNDLES[0]) -> dict:
    return json.loads(read(name))


def root_verifier() -> rv.Verifier:
    return rv.parse_verifier_key(read("root.pub"))


def raw_pub(priv: Ed25519PrivateKey) -> bytes:
    return priv.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def sign_note(text: str, name: str, priv: Ed25519PrivateKey) -> str:
    kid = rv.key_id(name, raw_pub(priv))
    sig = priv.sign(text.encode("utf-8"))
    return f"{text}\n\u2014 {name} {b64e(kid.to_bytes(4, 'big') + sig)}\n"


def vkey_string(name: str, pub: bytes) -> str:
    key = b64e(b"\x01" + pub)
    return f"{name}+{rv.key_id(name, pub):08x}+{key}"


def rfc6962_path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 6962 §2.1.1 PATH(m, D[n]) over leaf hashes, leaf side first."""
    n = len(leaves)
    if n <= 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return rfc6962_path(m, leaves[:k]) + [rv.merkle_root_from_leaf_hashes(leaves[k:])]
    return rfc6962_path(m - k, leaves[k:]) + [rv.merkle_root_from_leaf_hashes(leaves[:k])]


def mth_recursive(hashes: list[bytes]) -> bytes:
    """RFC 6962 MTH written exactly as the definition (k = largest power of 2 < n)."""
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return rv.node_hash(mth_recursive(hashes[:k]), mth_recursive(hashes[k:]))


class Failing:
    """Mixin: helpers that run the verifier and check OK / FAILED."""

    def assert_bundle_ok(self, bundle: dict, root: rv.Verifier | None = None) -> str:
        msg = rv.verify_bundle(bundle, root or root_verifier())
        self.assertTrue(msg.startswith("OK "), msg)
        return msg

    def assert_bundle_failed(self, bundle: dict, step: int | None = None,
                             root: rv.Verifier | None = None, what: str = "") -> rv.VerifyError:
        with self.assertRaises(rv.VerifyError, msg=f"accepted: {what}") as cm:
            rv.verify_bundle(bundle, root or root_verifier())
        if step is not None:
            self.assertEqual(cm.exception.step, rv.STEPS[step], f"{what}: {cm.exception}")
        return cm.exception


# ---------------------------------------------------------------------------
# Known answers
# ---------------------------------------------------------------------------

class KnownAnswers(unittest.TestCase):
    def test_go_note_example_verifies(self):
        v = rv.parse_verifier_key(GO_VKEY)
        self.assertEqual(v.name, "PeterNeumann")
        self.assertEqual(v.id, 0xC74F20A3)
        self.assertEqual(rv.key_id(v.name, v.public_key), 0xC74F20A3)
        text = rv.open_note(GO_NOTE, v)
        self.assertEqual(text, "If you think cryptography is the answer to your problem,\n"
                               "then you don't know what your problem is.\n")

    def test_go_note_every_byte_change_is_refused(self):
        v = rv.parse_verifier_key(GO_VKEY)
        raw = GO_NOTE.encode("utf-8")
        for i in range(len(raw)):
            for delta in (0x01, 0x20, 0x80):
                b = bytearray(raw)
                b[i] ^= delta
                with self.assertRaises(rv.FormatError, msg=f"byte {i} ^ {delta:#x}"):
                    rv.open_note(bytes(b), v)

    def test_go_verifier_key_with_wrong_id_is_refused(self):
        with self.assertRaises(rv.FormatError):
            rv.parse_verifier_key(GO_VKEY.replace("c74f20a3", "c74f20a4"))
        with self.assertRaises(rv.FormatError):
            rv.parse_verifier_key("PeterNeumann+c74f20a3")

    def test_rfc6962_eight_leaf_root(self):
        leaves = [bytes.fromhex(h) for h in RFC6962_LEAVES]
        self.assertEqual(rv.merkle_root(leaves).hex(), RFC6962_ROOT8)
        self.assertEqual(mth_recursive([rv.leaf_hash(x) for x in leaves]).hex(), RFC6962_ROOT8)
        self.assertEqual(rv.merkle_root([]).hex(), hashlib.sha256(b"").hexdigest())

    def test_rfc6962_inclusion_proofs_all_sizes(self):
        leaves = [rv.leaf_hash(bytes.fromhex(h)) for h in RFC6962_LEAVES]
        for n in range(1, 9):
            root = mth_recursive(leaves[:n])
            self.assertEqual(rv.merkle_root_from_leaf_hashes(leaves[:n]), root)
            for m in range(n):
                proof = rfc6962_path(m, leaves[:n])
                self.assertTrue(rv.verify_inclusion(leaves[m], m, n, proof, root), (m, n))
                self.assertFalse(rv.verify_inclusion(leaves[m], m, n, proof + [root], root))
                if proof:
                    self.assertFalse(rv.verify_inclusion(leaves[m], m, n, proof[:-1], root))
                self.assertFalse(rv.verify_inclusion(leaves[m], m, n, proof, rv.node_hash(root, root)))
                self.assertFalse(rv.verify_inclusion(leaves[m], m + n, n, proof, root))
                other = leaves[(m + 1) % 8]
                if other != leaves[m]:
                    self.assertFalse(rv.verify_inclusion(other, m, n, proof, root))

    def test_checkpoint_example_body_of_protocol_md(self):
        # protocol.md §5 example: the 8-leaf RFC 6962 root in base64.
        self.assertEqual(b64e(bytes.fromhex(RFC6962_ROOT8)),
                         "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=")
        cp = rv.parse_checkpoint_text(
            "rongxin.fuzhou/gulou\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n")
        self.assertEqual((cp.origin, cp.size, cp.root.hex()), ("rongxin.fuzhou/gulou", 8, RFC6962_ROOT8))

    def test_deterministic_checkpoint_note(self):
        # Ed25519 is deterministic: a key with seed [42; 32] signs the body to
        # exactly this note (also pinned by the reference code's tests).
        priv = Ed25519PrivateKey.from_private_bytes(bytes([42]) * 32)
        name = "rongxin.fuzhou/gulou"
        self.assertEqual(vkey_string(name, raw_pub(priv)),
                         "rongxin.fuzhou/gulou+cee863f6+ARl/ayPhbIUyxqvIOPrNXqeJvgx2spIDNAOb+os9No1h")
        body = "rongxin.fuzhou/gulou\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n"
        note = sign_note(body, name, priv)
        self.assertEqual(note, body + "\n\u2014 rongxin.fuzhou/gulou zuhj9u81Vfxcj/tc56eZUR4vYsQamtiGxUhWmV3BsXYeA6u+"
                                      "hwPrtdPMrpyyAN7y3FhKjTXoeRgxhAQvsGml/Mtnfw4=\n")
        cp = rv.open_checkpoint(note, rv.Verifier.from_public_key(name, raw_pub(priv)))
        self.assertEqual(cp.size, 8)

    def test_strict_ed25519(self):
        # The identity point and other small-order points are weak keys.
        self.assertIsNotNone(rv.ed25519_key_problem(b"\x01" + bytes(31)))
        self.assertIsNotNone(rv.ed25519_key_problem(bytes(32)))
        self.assertIsNotNone(rv.ed25519_key_problem(b"\xec" + b"\xff" * 30 + b"\x7f"))  # y = p-1
        self.assertIsNotNone(rv.ed25519_key_problem(b"\xff" * 31 + b"\x7f"))  # y >= p
        priv = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
        pub, msg = raw_pub(priv), b"message"
        sig = priv.sign(msg)
        self.assertIsNone(rv.ed25519_key_problem(pub))
        self.assertTrue(rv.ed25519_verify_strict(pub, msg, sig))
        self.assertFalse(rv.ed25519_verify_strict(pub, msg + b"!", sig))
        # S + L is the same signature in non-canonical form: refused.
        s = int.from_bytes(sig[32:], "little") + rv._L
        if s < 2**256:
            self.assertFalse(rv.ed25519_verify_strict(pub, msg, sig[:32] + s.to_bytes(32, "little")))
        # A small-order R is refused.
        self.assertFalse(rv.ed25519_verify_strict(pub, msg, b"\x01" + bytes(31) + sig[32:]))

    def test_strict_base64(self):
        self.assertEqual(rv.b64decode_strict("AAE=", "x"), b"\x00\x01")
        for bad in ("AAF=", "AAE", "AA E=", "AAE=\n", "A===", "!!!!"):
            with self.assertRaises(rv.FormatError, msg=bad):
                rv.b64decode_strict(bad, "x")


# ---------------------------------------------------------------------------
# Real material from a rongxin-node
# ---------------------------------------------------------------------------

class RealBundles(Failing, unittest.TestCase):
    def test_real_bundles_verify(self):
        expected = {
            "bundle-gulou-1.json": ("seq=1", "op=Put", "key=CF/350102/11350102MB01234575/榕鼓市监罚〔2026〕12号"),
            "bundle-gulou-5.json": ("seq=5", "op=Revoke", "key=XYCN/350102/11350102MB01234575/榕鼓承诺〔2026〕2号"),
            "bundle-gulou-6.json": ("seq=6", "op=Put", "key=XK/350102/11350102MB01234575/榕鼓市监许〔2026〕89号"),
        }
        for name, parts in expected.items():
            msg = self.assert_bundle_ok(load_bundle(name))
            for p in ("origin=gulou", "checkpoint_size=7") + parts:
                self.assertIn(p, msg, name)

    def test_real_entry_decodes_fully(self):
        b = load_bundle("bundle-gulou-1.json")
        raw = b64d(b["entry"])
        e = rv.decode_entry(raw)
        self.assertEqual((e.origin, e.seq), ("gulou", 1))
        self.assertGreater(e.time_ms, rv.TIME_MS_2000)
        rec = e.op["record"]
        self.assertEqual(rec["kind"], "CF")
        self.assertEqual(rec["subject"]["class"], "LegalPerson")
        self.assertEqual(rec["subject"]["code"], "91350102123456788M")  # upper-cased by the node
        self.assertEqual(rec["decision_date"], (2026, 3, 5))
        self.assertEqual(rec["fields"]["CF_NR_FK"], ("Decimal", "0.2"))  # "0.20" canonicalised
        self.assertEqual(rec["fields"]["CF_YXQ"], ("Date", (2027, 3, 5)))
        self.assertEqual(list(rec["fields"]), sorted(rec["fields"]))
        self.assertEqual(rv.encode_entry(e), raw)
        r5 = rv.decode_entry(b64d(load_bundle("bundle-gulou-5.json")["entry"]))
        self.assertEqual((r5.op["op"], r5.op["reason"]), ("Revoke", "Repair"))

    def test_every_single_byte_flip_of_the_entry_fails(self):
        for name in BUNDLES[:2]:
            base = load_bundle(name)
            raw = b64d(base["entry"])
            for i in range(len(raw)):
                for delta in (0x01, 0x80):
                    b = dict(base)
                    t = bytearray(raw)
                    t[i] ^= delta
                    b["entry"] = b64e(bytes(t))
                    self.assert_bundle_failed(b, 4, what=f"{name} entry byte {i} ^ {delta:#x}")

    def test_flipped_signature_bytes_fail(self):
        base = load_bundle()
        sig = b64d(base["entry_signature"])
        for i in range(len(sig)):
            b = dict(base)
            t = bytearray(sig)
            t[i] ^= 0x01
            b["entry_signature"] = b64e(bytes(t))
            self.assert_bundle_failed(b, 4, what=f"signature byte {i}")
        b = dict(base)
        b["entry_signature"] = b64e(sig[:63])
        self.assert_bundle_failed(b, 4, what="short signature")

    def test_each_proof_hash_altered_fails(self):
        for name in BUNDLES:
            base = load_bundle(name)
            for j, h in enumerate(base["inclusion_proof"]):
                for i in (0, 17, 31):
                    b = copy.deepcopy(base)
                    t = bytearray(b64d(h))
                    t[i] ^= 0x01
                    b["inclusion_proof"][j] = b64e(bytes(t))
                    self.assert_bundle_failed(b, 8, what=f"{name} proof[{j}] byte {i}")

    def test_swapped_proof_order_fails(self):
        for name in BUNDLES:
            base = load_bundle(name)
            p = base["inclusion_proof"]
            self.assertGreaterEqual(len(p), 2)
            for j in range(len(p) - 1):
                b = copy.deepcopy(base)
                q = b["inclusion_proof"]
                q[j], q[j + 1] = q[j + 1], q[j]
                self.assert_bundle_failed(b, 8, what=f"{name} swap {j},{j + 1}")
            b = copy.deepcopy(base)
            b["inclusion_proof"].reverse()
            self.assert_bundle_failed(b, 8, what=f"{name} reversed")

    def test_proof_of_wrong_length_fails(self):
        base = load_bundle()
        for proof in ([], base["inclusion_proof"][:-1], base["inclusion_proof"] + base["inclusion_proof"][:1]):
            b = dict(base)
            b["inclusion_proof"] = proof
            self.assert_bundle_failed(b, 8)

    def test_checkpoint_with_altered_size_or_root_fails(self):
        base = load_bundle()
        lines = base["checkpoint"].split("\n")
        self.assertEqual(lines[1], "7")
        for size in ("8", "6", "1", "07", "70"):
            b = dict(base)
            b["checkpoint"] = "\n".join([lines[0], size] + lines[2:])
            self.assert_bundle_failed(b, 7, what=f"size {size}")
        root = bytearray(b64d(lines[2]))
        for i in range(32):
            t = bytearray(root)
            t[i] ^= 0x01
            b = dict(base)
            b["checkpoint"] = "\n".join(lines[:2] + [b64e(bytes(t))] + lines[3:])
            self.assert_bundle_failed(b, 7, what=f"root byte {i}")
        # A checkpoint of another origin (same key, other name) is refused too.
        b = dict(base)
        b["checkpoint"] = base["checkpoint"].replace("rongxin.fuzhou/gulou", "rongxin.fuzhou/taijiang")
        self.assert_bundle_failed(b, 7)

    def test_roster_byte_altered_fails(self):
        base = load_bundle()
        raw = base["roster"].encode("utf-8")
        tried = 0
        for i in range(len(raw)):
            t = bytearray(raw)
            t[i] ^= 0x01
            try:
                s = bytes(t).decode("utf-8")
            except UnicodeDecodeError:
                continue  # not representable as a JSON string
            b = dict(base)
            b["roster"] = s
            self.assert_bundle_failed(b, 2, what=f"roster byte {i}")
            tried += 1
        self.assertGreater(tried, len(raw) // 2)

    def test_different_root_key_fails(self):
        for name in ("rongxin.fuzhou/root", "other/root"):
            other = Ed25519PrivateKey.generate()
            root = rv.parse_verifier_key(vkey_string(name, raw_pub(other)))
            self.assert_bundle_failed(load_bundle(), 2, root=root, what=name)

    def test_origin_public_key_of_another_member_fails(self):
        b = load_bundle()
        b["origin_public_key"] = TAIJIANG_KEY
        self.assert_bundle_failed(b, 3)
        b["origin"] = "taijiang"  # consistent key and origin, but the entry is gulou's
        self.assert_bundle_failed(b, 4)
        b = load_bundle()
        b["origin"] = "nosuchmember"
        self.assert_bundle_failed(b, 3)

    def test_leaf_index_changed_fails(self):
        for name in BUNDLES:
            base = load_bundle(name)
            for d in (-1, 1, 7, 1000):
                b = dict(base)
                b["leaf_index"] = base["leaf_index"] + d
                if b["leaf_index"] < 0:
                    continue
                self.assert_bundle_failed(b, 5, what=f"{name} leaf_index {b['leaf_index']}")

    def test_entry_and_proof_of_another_bundle_fail(self):
        a, c = load_bundle(BUNDLES[0]), load_bundle(BUNDLES[2])
        b = dict(a)
        b["entry"], b["entry_signature"] = c["entry"], c["entry_signature"]
        self.assert_bundle_failed(b, 5)
        b["leaf_index"] = c["leaf_index"]
        self.assert_bundle_failed(b, 8)  # c's entry with a's proof

    def test_format_and_shape(self):
        base = load_bundle()
        for mutate in (lambda b: b.update(format="rongxin-bundle/2"),
                       lambda b: b.pop("roster"),
                       lambda b: b.update(leaf_index="1"),
                       lambda b: b.update(leaf_index=True),
                       lambda b: b.update(extra=1)):
            b = dict(base)
            mutate(b)
            self.assert_bundle_failed(b, 1)
        self.assert_bundle_failed([], 1)


class RealLog(unittest.TestCase):
    def setUp(self):
        self.entries = read("entries-gulou.json")
        self.cp = read("checkpoint-gulou.txt")
        self.roster = read("roster.signed")
        self.root = root_verifier()

    def verify(self, entries=None, cp=None, roster=None, allow_extra=False) -> str:
        return rv.verify_log(self.entries if entries is None else entries, cp or self.cp,
                             roster or self.roster, self.root, allow_extra)

    def failed(self, **kw) -> rv.VerifyError:
        with self.assertRaises(rv.VerifyError) as cm:
            self.verify(**kw)
        return cm.exception

    def page(self) -> dict:
        return json.loads(self.entries)

    def test_log_verifies(self):
        msg = self.verify()
        self.assertTrue(msg.startswith("OK origin=gulou entries=7 checkpoint_size=7"), msg)

    def test_concatenated_pages_verify(self):
        p = self.page()
        pages = [dict(p, **{"from": i, "entries": p["entries"][i:i + 3]}) for i in range(0, 7, 3)]
        self.assertTrue(self.verify("".join(json.dumps(x) for x in pages)).startswith("OK"))
        self.assertTrue(self.verify(json.dumps(pages)).startswith("OK"))
        self.assertTrue(self.verify(json.dumps(p["entries"])).startswith("OK"))

    def test_missing_reordered_or_duplicated_entries_fail(self):
        es = self.page()["entries"]
        self.failed(entries=json.dumps(es[1:]))
        self.failed(entries=json.dumps(es[:3] + es[4:]))
        self.failed(entries=json.dumps([es[1], es[0]] + es[2:]))
        self.failed(entries=json.dumps(es[:3] + [es[2]] + es[3:]))
        # Fewer entries than the checkpoint says, and more than it covers.
        self.assertEqual(self.failed(entries=json.dumps(es[:6])).step, "merkle root")
        bigger = self.cp.replace("\n7\n", "\n6\n")
        self.failed(cp=bigger)  # altered checkpoint: signature

    def test_relabelled_seq_fails(self):
        es = self.page()["entries"]
        es2 = copy.deepcopy(es)
        es2[1]["entry"], es2[2]["entry"] = es[2]["entry"], es[1]["entry"]
        es2[1]["signature"], es2[2]["signature"] = es[2]["signature"], es[1]["signature"]
        self.failed(entries=json.dumps(es2))

    def test_altered_entry_or_signature_fails(self):
        es = self.page()["entries"]
        for n in range(len(es)):
            for field in ("entry", "signature"):
                es2 = copy.deepcopy(es)
                t = bytearray(b64d(es2[n][field]))
                t[len(t) // 2] ^= 0x01
                es2[n][field] = b64e(bytes(t))
                err = self.failed(entries=json.dumps(es2))
                self.assertEqual(err.step, f"entry {n}")

    def test_altered_checkpoint_or_roster_fails(self):
        lines = self.cp.split("\n")
        self.failed(cp="\n".join([lines[0], "8"] + lines[2:]))
        self.failed(cp="\n".join(lines[:2] + ["A" + lines[2][1:]] + lines[3:]))
        self.failed(roster=self.roster.replace('"350102"', '"350103"', 1))
        other = Ed25519PrivateKey.generate()
        self.root = rv.parse_verifier_key(vkey_string("rongxin.fuzhou/root", raw_pub(other)))
        self.failed()

    def test_origin_of_pages_must_match(self):
        p = self.page()
        p["origin"] = "taijiang"
        self.failed(entries=json.dumps(p))


# ---------------------------------------------------------------------------
# A synthetic federation: altered content, validly signed
# ---------------------------------------------------------------------------

def peer_id(i: int) -> str:
    return "12D3KooW" + "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"[i] * 44


class Federation:
    FED = "test.fed"

    def __init__(self):
        self.root = Ed25519PrivateKey.generate()
        self.keys = {m: Ed25519PrivateKey.generate() for m in ("city", "gulou", "taijiang")}
        self.jur = {"city": ["350100"], "gulou": ["350102", "zone-a"], "taijiang": ["350103"]}
        self.roles = {"city": "city", "gulou": "district", "taijiang": "district"}

    def root_verifier(self) -> rv.Verifier:
        return rv.parse_verifier_key(vkey_string(f"{self.FED}/root", raw_pub(self.root)))

    def roster_text(self, members=None, extra_top: str = "") -> str:
        members = members or [
            {"id": m, "name": m.upper(), "role": self.roles[m], "jurisdictions": self.jur[m],
             "signing_key": b64e(raw_pub(self.keys[m])), "peer_id": peer_id(i)}
            for i, m in enumerate(self.keys)]
        out = ["rongxin-roster/v1", f'federation = "{self.FED}"', "version = 3",
               'valid_from = "2026-01-01"', 'valid_until = "2027-12-31"',
               'catalog_digest = "sha256:' + "ab" * 32 + '"']
        if extra_top:
            out.append(extra_top)
        for m in members:
            out.append("[[members]]")
            for k, v in m.items():
                out.append(f"{k} = {json.dumps(v, ensure_ascii=False)}")
        return "\n".join(out) + "\n"

    def roster(self, **kw) -> str:
        return sign_note(self.roster_text(**kw), f"{self.FED}/root", self.root)

    @staticmethod
    def put(seq: int, prev: bytes, origin: str = "gulou", jurisdiction: str = "350102",
            fields=None, time_ms: int = 1_790_000_000_000) -> rv.Entry:
        rec = {"kind": "CF", "jurisdiction": jurisdiction, "record_no": f"No.{seq}",
               "subject": {"class": "NaturalPerson", "code": "350102198001011233", "name": "张某"},
               "authority": {"name": "局", "code": "11350102MB01234575"},
               "decision_date": (2026, 3, 1),
               "fields": fields if fields is not None else {
                   "A": ("Text", "文本"), "B": ("Integer", -5), "C": ("Decimal", "-1.05"),
                   "D": ("Date", (2024, 2, 29)), "E": ("Bool", True)}}
        return rv.Entry(origin, seq, prev, time_ms, {"op": "Put", "record": rec})

    def log(self, n: int, origin: str = "gulou") -> list[bytes]:
        out, prev = [], bytes(32)
        for s in range(n):
            raw = rv.encode_entry(self.put(s, prev, origin))
            out.append(raw)
            prev = rv.leaf_hash(raw)
        return out

    def checkpoint(self, size: int, root: bytes, origin: str = "gulou") -> str:
        name = f"{self.FED}/{origin}"
        return sign_note(f"{name}\n{size}\n{b64e(root)}\n", name, self.keys[origin])

    def bundle(self, entries: list[bytes], index: int, origin: str = "gulou",
               entry: bytes | None = None, roster: str | None = None,
               cp_size: int | None = None, cp_root: bytes | None = None) -> dict:
        hashes = [rv.leaf_hash(e) for e in entries]
        raw = entries[index] if entry is None else entry
        return {
            "format": "rongxin-bundle/1", "origin": origin, "leaf_index": index,
            "entry": b64e(raw), "entry_signature": b64e(self.keys[origin].sign(raw)),
            "origin_public_key": b64e(raw_pub(self.keys[origin])),
            "inclusion_proof": [b64e(h) for h in rfc6962_path(index, hashes)],
            "checkpoint": self.checkpoint(len(entries) if cp_size is None else cp_size,
                                          rv.merkle_root_from_leaf_hashes(hashes) if cp_root is None else cp_root,
                                          origin),
            "roster": roster or self.roster(),
        }


class Synthetic(Failing, unittest.TestCase):
    def setUp(self):
        self.f = Federation()
        self.root = self.f.root_verifier()
        self.entries = self.f.log(5)

    def ok(self, b):
        return self.assert_bundle_ok(b, self.root)

    def bad(self, b, step, what=""):
        return self.assert_bundle_failed(b, step, self.root, what)

    def test_every_leaf_of_every_size_verifies(self):
        for n in range(1, 6):
            for i in range(n):
                self.ok(self.f.bundle(self.entries[:n], i))

    def test_op_variants_round_trip(self):
        key = {"kind": "CF", "jurisdiction": "zone-a", "authority_code": "X", "record_no": "1"}
        ops = [
            {"op": "Revoke", "key": key, "reason": "ObjectionUpheld", "basis": "b"},
            {"op": "ObjectionFiled", "id": "o-1", "key": key, "ground": "ExposesSecret",
             "statement": "s", "received_by": "gulou", "received_on": (2026, 1, 2), "due": (2026, 2, 2)},
            {"op": "ObjectionResolved", "id": "o-1", "key": key, "outcome": "Rejected", "explanation": "e"},
            {"op": "RepairFiled", "id": "r-1", "key": key, "statement": "s", "commitment": "XYCN/1",
             "received_by": "taijiang", "received_on": (2026, 5, 6), "due": (2026, 5, 11)},
            {"op": "RepairDecided", "id": "r-1", "key": key, "outcome": "Granted", "explanation": "e"},
        ]
        entries, prev = [], bytes(32)
        for s, op in enumerate(ops):
            raw = rv.encode_entry(rv.Entry("gulou", s, prev, 1_790_000_000_000, op))
            self.assertEqual(rv.decode_entry(raw).op, op)
            entries.append(raw)
            prev = rv.leaf_hash(raw)
        for i in range(len(ops)):
            self.assertIn("key=CF/zone-a/X/1", self.ok(self.f.bundle(entries, i)))
        foreign = rv.encode_entry(rv.Entry("gulou", 0, bytes(32), 1_790_000_000_000,
                                           dict(ops[0], key=dict(key, jurisdiction="350103"))))
        self.bad(self.f.bundle([foreign], 0), 6)

    def test_resigned_checkpoint_with_other_size_or_root_fails_the_proof(self):
        for size in (1, 2, 3, 4, 9, 16, 2**40):
            self.bad(self.f.bundle(self.entries, 2, cp_size=size), 8, f"size {size}")
        # RFC 9162 inclusion proofs bind hashes, not sizes: leaf 2's path in
        # the 5-leaf tree (h3, h01, h4) has the same shape for any size 5..8
        # (the right subtree is one hash), so "leaf 2 of 6/7/8" with the same
        # root also verifies. Only the signed (size, root) pair gives meaning;
        # RFC 9162 verifiers and the reference verifier behave the same.
        for size in (6, 7, 8):
            self.ok(self.f.bundle(self.entries, 2, cp_size=size))
        self.bad(self.f.bundle(self.entries, 2, cp_root=bytes(32)), 8)
        self.bad(self.f.bundle(self.entries, 4, cp_size=4), 8)  # index not below size

    def test_record_of_another_jurisdiction_fails_ownership(self):
        for jur in ("350103", "350100", "999999", "zone-b"):
            e = [rv.encode_entry(self.f.put(0, bytes(32), jurisdiction=jur))]
            self.bad(self.f.bundle(e, 0), 6, jur)

    def test_entry_of_another_origin_fails(self):
        e = [rv.encode_entry(self.f.put(0, bytes(32), origin="taijiang"))]
        self.bad(self.f.bundle(e, 0), 5)

    def test_non_canonical_or_invalid_entries_fail_decoding(self):
        good = self.entries[0]
        tag = rv.ENTRY_TAG
        e = self.f.put(0, bytes(32))
        enc = rv.encode_entry(e)
        self.assertEqual(enc, good)
        cases = {
            "trailing byte": good + b"\x00",
            "truncated": good[:-1],
            "tag version 2 (sm2-sm3) in an ed25519-sha256 federation": tag[:-1] + b"\x02" + good[len(tag):],
            "tag version 3": tag[:-1] + b"\x03" + good[len(tag):],
            "tag version 0": tag[:-1] + b"\x00" + good[len(tag):],
            "no tag": good[len(tag):],
            "non-canonical decimal": rv.encode_entry(self.f.put(0, bytes(32), fields={"C": ("Decimal", "0.20")})),
            "decimal -0": rv.encode_entry(self.f.put(0, bytes(32), fields={"C": ("Decimal", "-0")})),
            "decimal 01": rv.encode_entry(self.f.put(0, bytes(32), fields={"C": ("Decimal", "01")})),
            "decimal 7 places": rv.encode_entry(self.f.put(0, bytes(32), fields={"C": ("Decimal", "0.1234567")})),
            "not a day": rv.encode_entry(self.f.put(0, bytes(32), fields={"D": ("Date", (2023, 2, 29))})),
            "year 0": rv.encode_entry(self.f.put(0, bytes(32), fields={"D": ("Date", (0, 1, 1))})),
            "before 2000": rv.encode_entry(self.f.put(0, bytes(32), time_ms=946_684_799_999)),
            "seq 0 with prev_hash": rv.encode_entry(self.f.put(0, b"\x01" * 32)),
        }
        # Map keys out of order: swap the encodings of fields "A" and "B".
        w = rv.Writer()
        w.uint(2, 8)
        for k, v in (("B", ("Integer", 1)), ("A", ("Text", "a"))):
            w.string(k)
            rv._write_field_value(w, v)
        sorted_map = rv.encode_entry(self.f.put(0, bytes(32), fields={"A": ("Text", "a"), "B": ("Integer", 1)}))
        w2 = rv.Writer()
        w2.uint(2, 8)
        for k, v in (("A", ("Text", "a")), ("B", ("Integer", 1))):
            w2.string(k)
            rv._write_field_value(w2, v)
        self.assertIn(bytes(w2.out), sorted_map)
        cases["map out of order"] = sorted_map.replace(bytes(w2.out), bytes(w.out))
        # A bool byte of 2.
        bool_entry = rv.encode_entry(self.f.put(0, bytes(32), fields={"E": ("Bool", True)}))
        self.assertEqual(bool_entry[-1], 1)
        cases["bool 2"] = bool_entry[:-1] + b"\x02"
        # An op variant index out of range (5; 4 is KeyHandover).
        op_at = len(tag) + 8 + 5 + 8 + 32 + 8
        self.assertEqual(good[op_at:op_at + 4], b"\x00\x00\x00\x00")
        cases["op variant 5"] = good[:op_at] + b"\x00\x00\x00\x05" + good[op_at + 4:]
        # A Put's bytes read as a KeyHandover (variant 4): not a key, trailing bytes.
        cases["Put body as op 4"] = good[:op_at] + b"\x00\x00\x00\x04" + good[op_at + 4:]
        # A string length larger than the data.
        cases["huge length"] = tag + b"\xff" * 8 + good[len(tag) + 8:]
        # Invalid UTF-8 in the origin.
        cases["bad utf-8"] = tag + good[len(tag):len(tag) + 8] + b"gul\xffu" + good[len(tag) + 13:]
        for what, raw in cases.items():
            with self.subTest(what):
                self.assertRaises(rv.FormatError, rv.decode_entry, raw)
                err = self.bad(self.f.bundle([raw], 0, entry=raw), 4, what)
                self.assertIn("decode", err.why)

    def test_roster_rules(self):
        f = self.f
        base = [{"id": m, "name": m.upper(), "role": f.roles[m], "jurisdictions": f.jur[m],
                 "signing_key": b64e(raw_pub(f.keys[m])), "peer_id": peer_id(i)}
                for i, m in enumerate(f.keys)]
        self.ok(f.bundle(self.entries, 0, roster=f.roster(members=copy.deepcopy(base))))

        def variant(mutate):
            ms = copy.deepcopy(base)
            mutate(ms)
            return f.roster(members=ms)

        bad_rosters = {
            "two cities": variant(lambda ms: ms[2].update(role="city")),
            "no city": variant(lambda ms: ms[0].update(role="district")),
            "jurisdiction owned twice": variant(lambda ms: ms[2]["jurisdictions"].append("350102")),
            "duplicate id": variant(lambda ms: ms[2].update(id="gulou")),
            "duplicate key": variant(lambda ms: ms[2].update(signing_key=ms[1]["signing_key"])),
            "duplicate peer id": variant(lambda ms: ms[2].update(peer_id=ms[1]["peer_id"])),
            "weak key": variant(lambda ms: ms[2].update(signing_key=b64e(b"\x01" + bytes(31)))),
            "short key": variant(lambda ms: ms[2].update(signing_key=b64e(bytes(31)))),
            "bad role": variant(lambda ms: ms[2].update(role="county")),
            "member id root": variant(lambda ms: ms[2].update(id="root")),
            "bad member id": variant(lambda ms: ms[2].update(id="Taijiang")),
            "bad jurisdiction": variant(lambda ms: ms[2].update(jurisdictions=["35010"])),
            "unknown member key": variant(lambda ms: ms[2].update(colour="red")),
            "bad peer id": variant(lambda ms: ms[2].update(peer_id="0OIl0OIl0OIl")),
            "unknown top key": f.roster(members=copy.deepcopy(base), extra_top='colour = "red"'),
            "not toml": sign_note("rongxin-roster/v1\nfederation = \n", f"{f.FED}/root", f.root),
            "wrong header": sign_note(f.roster_text().replace("rongxin-roster/v1", "rongxin-roster/v2"),
                                      f"{f.FED}/root", f.root),
            "until before from": sign_note(f.roster_text().replace('"2027-12-31"', '"2025-12-31"'),
                                           f"{f.FED}/root", f.root),
            "not a day": sign_note(f.roster_text().replace('"2027-12-31"', '"2027-02-30"'),
                                   f"{f.FED}/root", f.root),
            "other federation": sign_note(f.roster_text().replace('"test.fed"', '"other.fed"'),
                                          f"{f.FED}/root", f.root),
            "bad digest": sign_note(f.roster_text().replace("sha256:", "sha1:"), f"{f.FED}/root", f.root),
            "signed by a member": sign_note(f.roster_text(), f"{f.FED}/root", f.keys["city"]),
        }
        for what, roster in bad_rosters.items():
            with self.subTest(what):
                self.bad(f.bundle(self.entries, 0, roster=roster), 2, what)

    def test_key_rotated_in_roster_fails(self):
        f = self.f
        new = Ed25519PrivateKey.generate()
        text = f.roster_text().replace(b64e(raw_pub(f.keys["gulou"])), b64e(raw_pub(new)))
        roster = sign_note(text, f"{f.FED}/root", f.root)
        self.bad(f.bundle(self.entries, 0, roster=roster), 3)

    def test_note_signatures(self):
        f = self.f
        text = f.roster_text()
        name = f"{f.FED}/root"
        good = sign_note(text, name, f.root)
        other = Ed25519PrivateKey.generate()
        other_line = sign_note(text, "someone/else", other).split("\n\n", 1)[1]
        # Signatures by other keys are ignored, before or after ours.
        self.ok(f.bundle(self.entries, 0, roster=good + other_line))
        self.ok(f.bundle(self.entries, 0, roster=text + "\n" + other_line + good.split("\n\n", 1)[1]))
        # Only other keys: refused.
        self.bad(f.bundle(self.entries, 0, roster=text + "\n" + other_line), 2)
        # Same name, another key (so another key id): ignored, so no signature.
        self.bad(f.bundle(self.entries, 0, roster=sign_note(text, name, other)), 2)
        # Malformed notes.
        for bad in (good.rstrip("\n"), good.replace("\u2014 ", "- "), good.replace("\n\n", "\n"),
                    "\n" + good, good.replace("\n[[members]]", "\n\n[[members]]", 1),
                    text.replace("\n", "\t", 1) + good[len(text):]):
            self.bad(f.bundle(self.entries, 0, roster=bad), 2)

    def test_log_mode_checks_chain_and_ownership(self):
        f = self.f
        roster = f.roster()

        def run(entries: list[bytes], sigs=None, cp=None):
            page = {"origin": "gulou", "from": 0, "entries": [
                {"seq": i, "entry": b64e(e), "signature": b64e(f.keys["gulou"].sign(e) if sigs is None else sigs[i])}
                for i, e in enumerate(entries)]}
            cp = cp or f.checkpoint(len(entries), rv.merkle_root(entries))
            return rv.verify_log(json.dumps(page), cp, roster, self.root)

        self.assertTrue(run(self.entries).startswith("OK origin=gulou entries=5"))
        # A broken hash chain, validly signed.
        broken = list(self.entries)
        broken[3] = rv.encode_entry(f.put(3, b"\x07" * 32))
        with self.assertRaisesRegex(rv.VerifyError, "prev_hash"):
            run(broken)
        # A gap in seq inside the entry.
        gap = list(self.entries[:3])
        gap.append(rv.encode_entry(f.put(4, rv.leaf_hash(gap[-1]))))
        with self.assertRaisesRegex(rv.VerifyError, "seq"):
            run(gap)
        # Another member's jurisdiction.
        own = list(self.entries[:2])
        own.append(rv.encode_entry(f.put(2, rv.leaf_hash(own[-1]), jurisdiction="350103")))
        with self.assertRaisesRegex(rv.VerifyError, "owned by taijiang"):
            run(own)
        # A checkpoint for a prefix only.
        with self.assertRaises(rv.VerifyError):
            run(self.entries, cp=f.checkpoint(4, rv.merkle_root(self.entries[:4])))
        self.assertIn("beyond the checkpoint: 1", rv.verify_log(
            json.dumps([{"seq": i, "entry": b64e(e), "signature": b64e(f.keys["gulou"].sign(e))}
                        for i, e in enumerate(self.entries)]),
            f.checkpoint(4, rv.merkle_root(self.entries[:4])), roster, self.root, allow_extra=True))
        # Signed by another member.
        with self.assertRaisesRegex(rv.VerifyError, "signature"):
            run(self.entries, sigs=[f.keys["taijiang"].sign(e) for e in self.entries])


# ---------------------------------------------------------------------------
# Suite-generic material: key histories, logs with handovers, bundle v2.
#
# Everything below is parametrised by a key factory, so the same builders
# make ed25519-sha256 and sm2-sm3 federations; `Material` writes a case to
# files and `verdicts` runs this tool (and rongxinctl, when RONGXINCTL is
# set) on them, so a cross-check against the real binaries only has to
# build the bundles it wants compared.
# ---------------------------------------------------------------------------

T0 = 1_790_000_000_000


class EdKey:
    """An Ed25519 signing key, signed with `cryptography`."""

    suite = rv.ED25519_SHA256

    def __init__(self, priv: Ed25519PrivateKey | None = None):
        self.priv = priv or Ed25519PrivateKey.generate()
        self.public = raw_pub(self.priv)

    def sign(self, msg: bytes) -> bytes:
        return self.priv.sign(msg)


class Sm2Key:
    """An SM2 signing key made and used by openssl (tools/sm2_openssl.py).
    openssl's nonces are random, so signatures differ run to run."""

    suite = rv.SM2_SM3

    def __init__(self, directory: str):
        self.pem, self.public = sm2.sm2_generate_key(directory)

    def sign(self, msg: bytes) -> bytes:
        return sm2.sm2_sign_with_openssl(self.pem, msg)


def note_signed(text: str, name: str, key) -> str:
    """A signed note of `text` by `key` (either suite) under `name`."""
    kid = rv.key_id(name, key.public, key.suite)
    return f"{text}\n\u2014 {name} {b64e(kid.to_bytes(4, 'big') + key.sign(text.encode('utf-8')))}\n"


def vkey_of(name: str, key) -> str:
    """The verifier key string of `key`: name+id+base64(type || public key)."""
    return f"{name}+{rv.key_id(name, key.public, key.suite):08x}+{b64e(key.suite.note_type + key.public)}"


class HKey:
    """One key of a member's history in a test roster."""

    def __init__(self, key, start: int | None = None, compromised: bool = False):
        self.key, self.start, self.compromised = key, start, compromised


class Fed2:
    """A v2 (key history) federation of either suite: root, city, gulou and
    taijiang, each member with a one-key history unless changed."""

    FED = "test.fed"
    MEMBERS = ("city", "gulou", "taijiang")
    JUR = {"city": ["350100"], "gulou": ["350102", "zone-a"], "taijiang": ["350103"]}
    ROLES = {"city": "city", "gulou": "district", "taijiang": "district"}

    def __init__(self, new_key):
        self.new_key = new_key
        self.root = new_key()
        self.suite: rv.Suite = self.root.suite
        self.histories = {m: [HKey(new_key(), 0)] for m in self.MEMBERS}

    def root_vkey(self) -> str:
        return vkey_of(f"{self.FED}/root", self.root)

    def root_verifier(self) -> rv.Verifier:
        return rv.parse_verifier_key(self.root_vkey())

    def roster_text(self, histories=None, suite: str | None = None, digest: str | None = None,
                    version: int = 3) -> str:
        histories = histories or self.histories
        out = ["rongxin-roster/v2", f'federation = "{self.FED}"', f"version = {version}",
               f'suite = "{suite or self.suite.name}"',
               'valid_from = "2026-01-01"', 'valid_until = "2027-12-31"',
               f'catalog_digest = "{digest or self.suite.hash_name + ":" + "ab" * 32}"']
        for i, m in enumerate(self.MEMBERS):
            out += ["[[members]]", f'id = "{m}"', f'name = "{m.upper()}"', f'role = "{self.ROLES[m]}"',
                    f"jurisdictions = {json.dumps(self.JUR[m])}", f'peer_id = "{peer_id(i)}"']
            for h in histories[m]:
                out += ["[[members.keys]]", f'key = "{b64e(h.key.public)}"']
                if h.start is not None:
                    out.append(f"from = {h.start}")
                if h.compromised:
                    out.append("compromised = true")
        return "\n".join(out) + "\n"

    def roster(self, **kw) -> str:
        return note_signed(self.roster_text(**kw), f"{self.FED}/root", self.root)

    def log(self, origin: str = "gulou") -> "Log":
        return Log(self, origin)


def put_op(seq: int, jurisdiction: str = "350102") -> dict:
    return {"op": "Put", "record": {
        "kind": "CF", "jurisdiction": jurisdiction, "record_no": f"No.{seq}",
        "subject": {"class": "LegalPerson", "code": "91350102123456788M", "name": "某公司"},
        "authority": {"name": "局", "code": "11350102MB01234575"},
        "decision_date": (2026, 3, 1), "fields": {"CF_NR_FK": ("Decimal", "0.2")}}}


class Log:
    """An origin's log built entry by entry. Each entry is signed by the key
    in use (the history's first key, then each key handed over to) unless a
    signer is given; `signers` remembers who signed what."""

    def __init__(self, fed: Fed2, origin: str = "gulou"):
        self.fed, self.origin, self.suite = fed, origin, fed.suite
        self.key = fed.histories[origin][0].key
        self.entries: list[bytes] = []
        self.sigs: list[bytes] = []
        self.signers: list = []
        self.handover_positions: list[int] = []

    def append(self, op: dict, signer=None, **entry_kw) -> int:
        seq = len(self.entries)
        prev = rv.leaf_hash(self.entries[-1], self.suite) if seq else bytes(32)
        e = rv.Entry(entry_kw.get("origin", self.origin), entry_kw.get("seq", seq), prev, T0 + seq, op, self.suite)
        raw = rv.encode_entry(e, entry_kw.get("tag_suite"))
        signer = signer or self.key
        self.entries.append(raw)
        self.sigs.append(signer.sign(raw))
        self.signers.append(signer)
        return seq

    def put(self, n: int = 1, signer=None, **kw) -> "Log":
        for _ in range(n):
            self.append(put_op(len(self.entries), **kw), signer)
        return self

    def handover(self, new_key, signer=None, named=None) -> "Log":
        """A KeyHandover naming `named` (default: new_key), signed by `signer`
        (default: the key in use); entries after it are signed by new_key."""
        p = self.append({"op": "KeyHandover", "key": (named or new_key).public}, signer)
        self.handover_positions.append(p)
        self.key = new_key
        return self

    def hashes(self) -> list[bytes]:
        return [rv.leaf_hash(e, self.suite) for e in self.entries]

    def root(self, size: int | None = None) -> bytes:
        return rv.merkle_root_from_leaf_hashes(self.hashes()[:size], self.suite)

    def proof(self, index: int, size: int | None = None) -> list[str]:
        return [b64e(h) for h in rfc6962_path_suite(index, self.hashes()[:size], self.suite)]

    def checkpoint(self, size: int | None = None, signer=None, root: bytes | None = None) -> str:
        size = len(self.entries) if size is None else size
        signer = signer or (self.signers[size - 1] if size else self.fed.histories[self.origin][0].key)
        name = f"{self.fed.FED}/{self.origin}"
        return note_signed(f"{name}\n{size}\n{b64e(self.root(size) if root is None else root)}\n", name, signer)

    def page(self, upto: int | None = None) -> str:
        return json.dumps({"origin": self.origin, "from": 0, "entries": [
            {"seq": i, "entry": b64e(e), "signature": b64e(s)}
            for i, (e, s) in enumerate(zip(self.entries[:upto], self.sigs[:upto]))]})

    def handover_item(self, p: int, size: int) -> dict:
        return {"leaf_index": p, "entry": b64e(self.entries[p]), "entry_signature": b64e(self.sigs[p]),
                "inclusion_proof": self.proof(p, size)}

    def bundle(self, index: int, cp_size: int | None = None, handovers: list[int] | None = None,
               roster: str | None = None, checkpoint: str | None = None) -> dict:
        """Bundle v2 of entry `index` against a checkpoint of `cp_size`. By
        default it carries the handovers that start keys up to the larger of
        `index` and the checkpoint's last position (protocol.md §7)."""
        size = len(self.entries) if cp_size is None else cp_size
        if handovers is None:
            handovers = [p for p in self.handover_positions if p < max(index, size - 1)]
        b = {"format": "rongxin-bundle/2", "suite": self.suite.name, "origin": self.origin,
             "leaf_index": index, "entry": b64e(self.entries[index]), "entry_signature": b64e(self.sigs[index]),
             "origin_public_key": b64e(self.signers[index].public),
             "inclusion_proof": self.proof(index, size),
             "checkpoint": checkpoint or self.checkpoint(size),
             "roster": roster or self.fed.roster()}
        if handovers:
            b["handovers"] = [self.handover_item(p, size) for p in handovers]
        return b


def rfc6962_path_suite(m: int, leaves: list[bytes], suite: rv.Suite) -> list[bytes]:
    """RFC 6962 PATH(m, D[n]) with H of `suite`."""
    n = len(leaves)
    if n <= 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return rfc6962_path_suite(m, leaves[:k], suite) + [rv.merkle_root_from_leaf_hashes(leaves[k:], suite)]
    return rfc6962_path_suite(m - k, leaves[k:], suite) + [rv.merkle_root_from_leaf_hashes(leaves[:k], suite)]


def flip_b64(s: str, i: int) -> str:
    t = bytearray(b64d(s))
    t[i % len(t)] ^= 0x01
    return b64e(bytes(t))


class Material:
    """Files for one federation (root.pub) and its bundles, in a directory,
    for the command line of this tool and of rongxinctl."""

    def __init__(self, directory: str, root_vkey: str):
        self.dir = Path(directory)
        self.root = self.dir / "root.pub"
        self.root.write_text(root_vkey + "\n", encoding="utf-8")

    def bundle_file(self, name: str, bundle: dict) -> Path:
        path = self.dir / (re.sub(r"[^A-Za-z0-9_-]+", "_", name) + ".json")
        path.write_text(json.dumps(bundle, ensure_ascii=False), encoding="utf-8")
        return path

    def verdicts(self, name: str, bundle: dict) -> tuple[int, int | None]:
        """(this tool's exit code, rongxinctl's or None without RONGXINCTL)."""
        path = self.bundle_file(name, bundle)
        ours = run_tool(str(path), "--root", str(self.root)).returncode
        theirs = None
        if RONGXINCTL:
            theirs = rongxinctl("audit", "verify", str(path), "--root", str(self.root)).returncode
        return ours, theirs


class V2Mixin(Failing):
    """Bundle and log assertions against a Fed2."""

    fed: Fed2

    def ok(self, b: dict) -> str:
        return self.assert_bundle_ok(b, self.fed.root_verifier())

    def bad(self, b: dict, step: int, what: str = "", contains: str = "") -> rv.VerifyError:
        err = self.assert_bundle_failed(b, step, self.fed.root_verifier(), what)
        if contains:
            self.assertIn(contains, err.why, what)
        return err

    def log_ok(self, log: Log, roster: str | None = None, size: int | None = None, **kw) -> str:
        msg = rv.verify_log(log.page(), log.checkpoint(size), roster or self.fed.roster(),
                            self.fed.root_verifier(), **kw)
        self.assertTrue(msg.startswith("OK "), msg)
        return msg

    def log_bad(self, log: Log, step: str, contains: str = "", roster: str | None = None,
                checkpoint: str | None = None, page: str | None = None) -> rv.VerifyError:
        with self.assertRaises(rv.VerifyError) as cm:
            rv.verify_log(page or log.page(), checkpoint or log.checkpoint(), roster or self.fed.roster(),
                          self.fed.root_verifier())
        self.assertEqual(cm.exception.step, step, str(cm.exception))
        self.assertIn(contains, cm.exception.why)
        return cm.exception


# ---------------------------------------------------------------------------
# sm2-sm3 (SM2 by openssl, SM3 by hashlib)
# ---------------------------------------------------------------------------

SM3_EMPTY = "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b"  # GB/T 32905 SM3("")


class Sm2Suite(V2Mixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._dir = tempfile.TemporaryDirectory()
        cls.new_key = staticmethod(lambda: Sm2Key(cls._dir.name))
        cls.fed = Fed2(cls.new_key)
        cls.log = cls.fed.log().put(4)
        cls.bundle2 = cls.log.bundle(2)  # signed once; tamper cases copy it

    @classmethod
    def tearDownClass(cls):
        cls._dir.cleanup()

    def test_hashes_are_sm3(self):
        s = rv.SM2_SM3
        self.assertEqual(rv.merkle_root([], s).hex(), SM3_EMPTY)
        self.assertEqual(rv.leaf_hash(b"x", s), hashlib.new("sm3", b"\x00x").digest())
        self.assertEqual(rv.node_hash(b"a" * 32, b"b" * 32, s), hashlib.new("sm3", b"\x01" + b"a" * 32 + b"b" * 32).digest())
        self.assertNotEqual(rv.leaf_hash(b"x", s), rv.leaf_hash(b"x"))
        leaves = [rv.leaf_hash(bytes.fromhex(h), s) for h in RFC6962_LEAVES]
        for n in range(1, 9):
            root = rv.merkle_root_from_leaf_hashes(leaves[:n], s)
            for m in range(n):
                proof = rfc6962_path_suite(m, leaves[:n], s)
                self.assertTrue(rv.verify_inclusion(leaves[m], m, n, proof, root, s))
                if proof:  # with SHA-256 nodes instead
                    self.assertFalse(rv.verify_inclusion(leaves[m], m, n, proof, root))
        self.assertEqual(rv.SM2_SM3.hash(b"abc").hex(),
                         "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0")

    def test_sm2_verifier_keys(self):
        name = f"{self.fed.FED}/root"
        v = rv.parse_verifier_key(self.fed.root_vkey())
        self.assertEqual((v.name, v.suite, v.public_key), (name, rv.SM2_SM3, self.fed.root.public))
        # Key id: SM3(name || 0x0A || 0xff "rongxin-sm2" || 65-byte key), first 4 bytes.
        self.assertEqual(v.id, int.from_bytes(hashlib.new(
            "sm3", name.encode() + b"\n\xffrongxin-sm2" + self.fed.root.public).digest()[:4], "big"))
        sm2_type = b"\xffrongxin-sm2"
        pub = self.fed.root.public
        kid, raw = f"{v.id:08x}", sm2_type + pub
        bad = {
            "wrong id": (f"{(v.id ^ 1):08x}", raw),
            "SHA-256 key id": (f"{rv.key_id(name, pub, rv.ED25519_SHA256):08x}", raw),
            "0x01 type on an SM2 key": (kid, b"\x01" + pub),
            "type without the name": (kid, b"\xff" + pub),
            "short key": (kid, raw[:-1]),
            "compressed point": (kid, sm2_type + b"\x02" + pub[1:33]),
        }
        for what, (i, r) in bad.items():
            with self.subTest(what), self.assertRaises(rv.FormatError):
                rv.parse_verifier_key(f"{name}+{i}+{b64e(r)}")
        # A point off the curve, with its key id computed correctly.
        off = pub[:-1] + bytes([pub[-1] ^ 1])
        with self.assertRaisesRegex(rv.FormatError, "not a point of the SM2 curve"):
            rv.parse_verifier_key(f"{name}+{rv.key_id(name, off, rv.SM2_SM3):08x}+{b64e(sm2_type + off)}")

    def test_sm2_key_problems(self):
        pub = self.fed.root.public
        self.assertIsNone(rv.sm2_key_problem(pub))
        self.assertIsNotNone(rv.sm2_key_problem(pub[:-1]))
        self.assertIsNotNone(rv.sm2_key_problem(b"\x03" + pub[1:]))
        self.assertIsNotNone(rv.sm2_key_problem(b"\x04" + b"\xff" * 64))
        self.assertIsNotNone(rv.sm2_key_problem(b"\x04" + bytes(64)))
        self.assertIsNotNone(rv.SM2_SM3.key_problem(EdKey().public))
        self.assertIsNotNone(rv.ED25519_SHA256.key_problem(pub))

    def test_sm2_note(self):
        name = f"{self.fed.FED}/gulou"
        key = self.fed.histories["gulou"][0].key
        v = rv.Verifier.from_public_key(name, key.public, rv.SM2_SM3)
        note = note_signed(f"{name}\n0\n{b64e(rv.merkle_root([], rv.SM2_SM3))}\n", name, key)
        self.assertEqual(rv.open_checkpoint(note, v).size, 0)
        # The same signature under an Ed25519-typed key id is not ours.
        with self.assertRaises(rv.FormatError):
            rv.open_note(note, rv.Verifier(name, rv.key_id(name, key.public), key.public, rv.SM2_SM3))
        t = bytearray(note.encode())
        t[3] ^= 1
        with self.assertRaises(rv.FormatError):
            rv.open_note(bytes(t), v)

    def test_sm2_bundles_verify(self):
        for i in range(4):
            b = self.log.bundle(i) if i != 2 else self.bundle2
            msg = self.ok(b)
            self.assertIn(f"seq={i} op=Put key=CF/350102/", msg)
            self.assertTrue(msg.endswith("suite=sm2-sm3"), msg)

    def test_sm2_log_verifies(self):
        msg = self.log_ok(self.log)
        self.assertIn("entries=4 checkpoint_size=4", msg)
        self.assertIn("suite=sm2-sm3", msg)

    def test_sm2_tampered_bundles(self):
        base = self.bundle2
        fed = self.fed

        def alt(**kw) -> dict:
            b = copy.deepcopy(base)
            b.update(kw)
            return b

        other_member = b64e(fed.histories["taijiang"][0].key.public)
        lines = base["checkpoint"].split("\n")
        cases = [
            ("format v1 (so ed25519-sha256)", alt(format="rongxin-bundle/1"), 1, ""),
            ("unknown suite", alt(suite="sm2"), 1, "neither"),
            ("bundle says ed25519", alt(suite="ed25519-sha256"), 2, "roster's suite is sm2-sm3"),
            ("roster byte", alt(roster=base["roster"].replace('"350102"', '"350109"', 1)), 2, ""),
            ("roster by another SM2 root", alt(roster=note_signed(fed.roster_text(), f"{fed.FED}/root",
                                                                   fed.histories["city"][0].key)), 2, ""),
            ("roster with a sha256 digest", alt(roster=fed.roster(digest="sha256:" + "ab" * 32)), 2, "sm3:"),
            ("roster says ed25519-sha256", alt(roster=fed.roster(suite="ed25519-sha256")), 2, "suite"),
            ("other member's key", alt(origin_public_key=other_member), 3, ""),
            ("entry byte", alt(entry=flip_b64(base["entry"], 40)), 4, "signature"),
            ("signature r", alt(entry_signature=flip_b64(base["entry_signature"], 5)), 4, "signature"),
            ("signature s", alt(entry_signature=flip_b64(base["entry_signature"], 40)), 4, "signature"),
            ("leaf_index", alt(leaf_index=1), 5, ""),
            ("checkpoint size", alt(checkpoint="\n".join([lines[0], "5"] + lines[2:])), 7, ""),
            ("checkpoint root", alt(checkpoint="\n".join(lines[:2] + [flip_b64(lines[2], 3)] + lines[3:])), 7, ""),
            ("proof hash", alt(inclusion_proof=[flip_b64(base["inclusion_proof"][0], 1)] + base["inclusion_proof"][1:]), 8, ""),
            ("proof reversed", alt(inclusion_proof=base["inclusion_proof"][::-1]), 8, ""),
        ]
        for what, b, step, contains in cases:
            with self.subTest(what):
                self.bad(b, step, what, contains)

    def test_sm2_entry_with_the_ed25519_tag_is_refused(self):
        log = self.fed.log()
        log.append(put_op(0), tag_suite=rv.ED25519_SHA256)  # 0x01 tag, validly SM2-signed
        self.assertEqual(log.entries[0][14], 0x01)
        self.bad(log.bundle(0), 4, contains="tag names suite ed25519-sha256")
        self.log_bad(log, "entry 0", "tag names suite ed25519-sha256")

    def test_sm2_signature_by_another_member_is_refused(self):
        log = self.fed.log().put(2)
        log.append(put_op(2), signer=self.fed.histories["taijiang"][0].key)
        self.log_bad(log, "entry 2", "signature does not verify with gulou's key 1",
                     checkpoint=log.checkpoint(3, signer=self.fed.histories["gulou"][0].key))
        self.bad(log.bundle(2), 3)  # origin_public_key is taijiang's

    def test_sm2_handover(self):
        fed = Fed2(self.new_key)
        new = self.new_key()
        fed.histories["gulou"].append(HKey(new))
        log = fed.log().put(1).handover(new).put(1)
        self.fed = fed  # for ok/bad/log_ok; the class's federation is left as it was
        try:
            self.assertIn("handovers=[key 2 from 2]", self.log_ok(log))
            self.ok(log.bundle(2))
            self.ok(log.bundle(0))
            self.bad(log.bundle(2, handovers=[]), 3, contains="pending")
            self.log_bad(fed.log().put(1).handover(new).put(1, signer=fed.histories["gulou"][0].key),
                         "entry 2", "signed by key 1, which signs positions 0 to 1 only")
        finally:
            del self.fed

    def test_ed25519_root_cannot_sign_an_sm2_roster(self):
        ed_root = EdKey()
        roster = note_signed(self.fed.roster_text(), f"{self.fed.FED}/root", ed_root)
        root = rv.parse_verifier_key(vkey_of(f"{self.fed.FED}/root", ed_root))
        with self.assertRaisesRegex(rv.FormatError, "suite"):
            rv.parse_roster(roster, root)

    def test_sm2_roster_rules(self):
        fed = self.fed
        ed = EdKey()
        cases = {
            "an Ed25519 key": {**fed.histories, "taijiang": [HKey(ed, 0)]},
            "a key off the curve": {**fed.histories, "taijiang": [HKey(type("K", (), {
                "public": fed.root.public[:-1] + bytes([fed.root.public[-1] ^ 1])})(), 0)]},
            "gulou's key for taijiang too": {**fed.histories, "taijiang": [HKey(fed.histories["gulou"][0].key, 0)]},
        }
        for what, h in cases.items():
            with self.subTest(what), self.assertRaises(rv.FormatError):
                rv.parse_roster(fed.roster(histories=h), fed.root_verifier())

    def test_sm2_command_line(self):
        with tempfile.TemporaryDirectory() as d:
            m = Material(d, self.fed.root_vkey())
            p = run_tool(str(m.bundle_file("ok", self.bundle2)), "--root", str(m.root))
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertIn("suite=sm2-sm3", p.stdout)
            bad = dict(self.bundle2, entry_signature=flip_b64(self.bundle2["entry_signature"], 7))
            p = run_tool(str(m.bundle_file("bad", bad)), "--root", str(m.root))
            self.assertEqual(p.returncode, 1)
            self.assertTrue(p.stdout.startswith("FAILED: step 4 (entry signature and decoding): "), p.stdout)


# ---------------------------------------------------------------------------
# Key histories: KeyHandover, pending keys, compromised keys (ed25519-sha256)
# ---------------------------------------------------------------------------

class KeyHistory(V2Mixin, unittest.TestCase):
    """gulou: k1 from 0, k2 and k3 pending. The log: entries 0-2 by k1, a
    handover to k2 at 3, entries 4-5 by k2, a handover to k3 at 6, 7-8 by k3."""

    def setUp(self):
        self.fed = Fed2(EdKey)
        self.k1 = self.fed.histories["gulou"][0].key
        self.k2, self.k3, self.outsider = EdKey(), EdKey(), EdKey()
        self.fed.histories["gulou"] += [HKey(self.k2), HKey(self.k3)]
        self.log = self.fed.log().put(3).handover(self.k2).put(2).handover(self.k3).put(2)

    def history(self, *keys: HKey) -> str:
        return self.fed.roster(histories={**self.fed.histories, "gulou": list(keys)})

    # -- log mode ----------------------------------------------------------

    def test_log_verifies_across_the_switches(self):
        msg = self.log_ok(self.log)
        self.assertIn("entries=9 checkpoint_size=9", msg)
        self.assertIn("handovers=[key 2 from 4, key 3 from 7]", msg)
        # Every prefix, with its checkpoint signed by the key of its last entry.
        for n in range(0, 10):
            self.log_ok(self.log, size=n, allow_extra=True)
        # A roster that only lists the first two keys still reads the log up
        # to the second handover, which then names no key.
        self.log_bad(self.log, "entry 6", "no key after key 2",
                     roster=self.history(HKey(self.k1, 0), HKey(self.k2)))

    def test_roster_calendar_and_deadlines(self):
        # §6: an optional calendar_digest of the catalog_digest's form and an
        # optional [deadlines] table of four keys, each 1–250 working days.
        fed = self.fed
        text = fed.roster_text()
        cat = next(line for line in text.splitlines() if line.startswith("catalog_digest"))

        def signed(extra: str) -> str:
            return note_signed(text.replace(cat, cat + "\n" + extra), f"{fed.FED}/root", fed.root)

        good = ('calendar_digest = "sha256:' + "cd" * 32 + '"\n[deadlines]\nobjection_accept = 2\n'
                "objection_verify = 10\nrepair_decide = 3\npublication = 7")
        # The table must come before [[members]]: insert after the top keys.
        rv.parse_roster(signed(good), fed.root_verifier())
        rv.parse_roster(signed("[deadlines]\npublication = 5"), fed.root_verifier())
        bad = {
            "calendar digest of another hash": 'calendar_digest = "sm3:' + "cd" * 32 + '"',
            "short calendar digest": 'calendar_digest = "sha256:cd"',
            "zero days": "[deadlines]\npublication = 0",
            "too many days": "[deadlines]\nobjection_verify = 251",
            "unknown deadline": "[deadlines]\nappeal = 5",
            "days as text": '[deadlines]\npublication = "7"',
        }
        for what, extra in bad.items():
            with self.subTest(what), self.assertRaises(rv.FormatError):
                rv.parse_roster(signed(extra), fed.root_verifier())

    def test_roster_that_confirms_the_start(self):
        # The city may confirm the start with from = p + 1 (§6.1).
        self.log_ok(self.log, roster=self.history(HKey(self.k1, 0), HKey(self.k2, 4), HKey(self.k3)))
        self.log_ok(self.log, roster=self.history(HKey(self.k1, 0), HKey(self.k2, 4), HKey(self.k3, 7)))
        # A from that contradicts the handover's position is refused at the handover.
        self.log_bad(self.log, "entry 3", "starts that key at 5",
                     roster=self.history(HKey(self.k1, 0), HKey(self.k2, 5), HKey(self.k3)))
        self.log_bad(self.log, "entry 6", "starts that key at 9",
                     roster=self.history(HKey(self.k1, 0), HKey(self.k2, 4), HKey(self.k3, 9)))

    def test_forged_handovers_fail_at_the_handover(self):
        # Signed by the key it names (not yet started).
        log = self.fed.log().put(3).handover(self.k2, signer=self.k2).put(1)
        self.log_bad(log, "entry 3", "signed by key 2, which is pending")
        # Signed by a key not in the roster at all.
        log = self.fed.log().put(3).handover(self.k2, signer=self.outsider).put(1)
        err = self.log_bad(log, "entry 3", "signature does not verify with gulou's key 1")
        self.assertNotIn("signed by", err.why)
        # Validly signed, but naming a key the roster does not have.
        log = self.fed.log().put(3).handover(self.outsider).put(1)
        self.log_bad(log, "entry 3", "not gulou's in the roster")
        # Naming another member's key.
        log = self.fed.log().put(3).handover(self.fed.histories["taijiang"][0].key).put(1)
        self.log_bad(log, "entry 3", "not gulou's in the roster")
        # Naming the current key again.
        log = self.fed.log().put(3).handover(self.k1).put(1)
        self.log_bad(log, "entry 3", "gulou's key 1, which is not the key after key 1")

    def test_skipped_handover_fails(self):
        log = self.fed.log().put(3).handover(self.k3).put(1)
        self.log_bad(log, "entry 3", "skipping key 2")
        # Going back: after the switch to key 3, naming key 2.
        log = self.fed.log().put(1).handover(self.k2).put(1).handover(self.k3).put(1).handover(self.k2)
        self.log_bad(log, "entry 5", "hands over to gulou's key 2, but gulou has no key after key 3")
        log = self.fed.log().put(1).handover(self.k2).put(1).handover(self.k1)
        self.log_bad(log, "entry 3", "gulou's key 1, which is not the key after key 2")

    def test_entry_after_the_switch_signed_by_the_old_key_fails(self):
        log = self.fed.log().put(3).handover(self.k2).put(1, signer=self.k1).put(1)
        self.log_bad(log, "entry 4", "signed by key 1, which signs positions 0 to 3 only (key 2 signs position 4)")
        # And the checkpoint after the switch signed by the old key.
        self.log_bad(self.log, "checkpoint", "signed by key 2, which signs positions 4 to 6 only",
                     checkpoint=self.log.checkpoint(9, signer=self.k2))
        # An entry signed by the next key before its handover.
        log = self.fed.log().put(2).put(1, signer=self.k2)
        self.log_bad(log, "entry 2", "signed by key 2, which is pending")

    def test_checkpoint_beyond_the_entries_given(self):
        # Only 3 of the 9 entries: the checkpoint's key (k3) is still pending.
        err = self.log_bad(self.log, "checkpoint", "signed by key 3, which is pending",
                           page=self.log.page(3))
        self.assertIn("fewer than the checkpoint's 9", err.why)

    def test_handover_key_must_be_a_key_of_the_suite(self):
        log = self.fed.log().put(1)
        log.append({"op": "KeyHandover", "key": b"\x01" + bytes(31)})  # a small-order point
        self.log_bad(log, "entry 1", "not a key of suite ed25519-sha256")
        log = self.fed.log().put(1)
        log.append({"op": "KeyHandover", "key": bytes(65)})
        self.log_bad(log, "entry 1", "not a key of suite")
        raw = rv.encode_entry(rv.Entry("gulou", 0, bytes(32), T0, {"op": "KeyHandover", "key": self.k2.public}))
        self.assertEqual(rv.decode_entry(raw).op, {"op": "KeyHandover", "key": self.k2.public})
        self.assertEqual(raw[-40:], (32).to_bytes(8, "big") + self.k2.public)
        self.assertEqual(raw[-44:-40], b"\x00\x00\x00\x04")

    # -- compromised keys ----------------------------------------------------

    def test_compromised_key(self):
        # k1 compromised, k2 from 3 set by the root.
        roster = self.history(HKey(self.k1, 0, compromised=True), HKey(self.k2, 3))
        log = self.fed.log().put(3)
        log.key = self.k2
        log.put(2)
        self.log_ok(log, roster=roster)
        bad = self.fed.log().put(4)  # the thief keeps signing with k1 at 3
        self.log_bad(bad, "entry 3", "signed by key 1, which is marked compromised from position 3",
                     roster=roster, checkpoint=bad.checkpoint(4, signer=self.k2))
        self.log_bad(log, "checkpoint", "signed by key 1, which is marked compromised from position 3",
                     roster=roster, checkpoint=log.checkpoint(5, signer=self.k1))
        # Bundles: before the compromise k1 still proves its entries.
        self.ok(log.bundle(1, roster=roster))
        self.ok(log.bundle(1, cp_size=3, roster=roster))
        self.ok(log.bundle(4, roster=roster))
        self.bad(bad.bundle(3, roster=roster, checkpoint=bad.checkpoint(4, signer=self.k2)), 3,
                 contains="key 1, which is marked compromised from position 3")
        b = log.bundle(4, roster=roster)
        b["entry_signature"] = b64e(self.k1.sign(log.entries[4]))
        self.bad(b, 4, contains="signed by key 1, which is marked compromised from position 3")
        b = log.bundle(1, roster=roster, checkpoint=log.checkpoint(5, signer=self.k1))
        self.bad(b, 7, contains="signed by key 1, which is marked compromised from position 3")

    def test_roster_key_history_rules(self):
        k1, k2, k3 = self.k1, self.k2, self.k3
        good = [
            [HKey(k1, 0)],
            [HKey(k1, 0), HKey(k2)],
            [HKey(k1, 0), HKey(k2), HKey(k3)],
            [HKey(k1, 0), HKey(k2, 5), HKey(k3)],
            [HKey(k1, 0, True), HKey(k2, 5), HKey(k3)],
            [HKey(k1, 0, True), HKey(k2, 5, True), HKey(k3, 6)],
        ]
        for h in good:
            rv.parse_roster(self.history(*h), self.fed.root_verifier())
        bad = {
            "no key": ([], "keys"),
            "first key without from": ([HKey(k1), HKey(k2)], "from = 0"),
            "first key from 1": ([HKey(k1, 1)], "from = 0"),
            "from not increasing": ([HKey(k1, 0), HKey(k2, 5), HKey(k3, 5)], "not after"),
            "from after a pending key": ([HKey(k1, 0), HKey(k2), HKey(k3, 9)], "pending"),
            "newest compromised": ([HKey(k1, 0), HKey(k2, 3, True)], "newest key is marked compromised"),
            "compromised before a pending key": ([HKey(k1, 0, True), HKey(k2)], "needs a from"),
            "key twice in a history": ([HKey(k1, 0), HKey(k1)], "duplicate"),
            "another member's key": ([HKey(k1, 0), HKey(self.fed.histories["city"][0].key)], "duplicate"),
            "an SM2-sized key": ([HKey(k1, 0), HKey(type("K", (), {"public": b"\x04" + bytes(64)})())], "suite"),
        }
        for what, (h, contains) in bad.items():
            with self.subTest(what), self.assertRaises(rv.FormatError) as cm:
                rv.parse_roster(self.history(*h), self.fed.root_verifier())
            self.assertIn(contains, str(cm.exception), what)
        # Key table fields: unknown ones and a non-boolean compromised are refused.
        text = self.fed.roster_text().replace("from = 0\n", "from = 0\nweight = 1\n", 1)
        with self.assertRaises(rv.FormatError):
            rv.parse_roster(note_signed(text, f"{self.fed.FED}/root", self.fed.root), self.fed.root_verifier())
        text = self.fed.roster_text().replace("from = 0\n", 'from = 0\ncompromised = "yes"\n', 1)
        with self.assertRaises(rv.FormatError):
            rv.parse_roster(note_signed(text, f"{self.fed.FED}/root", self.fed.root), self.fed.root_verifier())

    # -- bundles ---------------------------------------------------------------

    def test_bundles_with_handovers_verify(self):
        log = self.log
        for i in range(9):
            b = log.bundle(i)
            self.assertEqual([h["leaf_index"] for h in b.get("handovers", [])], [3, 6], i)
            self.assertIn(f"seq={i} ", self.ok(b))
        self.assertIn("op=KeyHandover handover_to=" + b64e(self.k2.public), self.ok(log.bundle(3)))
        # Against older checkpoints: only the handovers below it are needed.
        for size, wanted in ((3, []), (4, []), (5, [3]), (7, [3]), (8, [3, 6])):
            for i in range(size):
                b = log.bundle(i, cp_size=size)
                self.assertEqual([h["leaf_index"] for h in b.get("handovers", [])], wanted, (i, size))
                self.ok(b)
        # A handover not needed (below the checkpoint, after both positions) is fine too.
        self.ok(log.bundle(1, cp_size=7, handovers=[3, 6]))

    def test_bundles_without_handovers(self):
        log = self.log
        # Entry before the switch, checkpoint before it: none needed.
        self.assertNotIn("handovers", log.bundle(1, cp_size=3))
        self.ok(log.bundle(1, cp_size=3))
        # Entry after the switch: its key is pending without the handover.
        self.bad(log.bundle(4, cp_size=6, handovers=[]), 3, contains="key 2, which is pending")
        b = log.bundle(4, cp_size=6, handovers=[])
        b["origin_public_key"] = b64e(self.k1.public)  # what the roster alone says
        self.bad(b, 4, contains="signed by key 2, which is pending")
        # Entry before the switch, checkpoint after it: the checkpoint's key is pending.
        self.bad(log.bundle(1, handovers=[]), 7, contains="signed by key 3, which is pending")
        self.bad(log.bundle(1, handovers=[3]), 7, contains="signed by key 3, which is pending")
        # The second handover without the first: signed by key 2, which is pending then.
        self.bad(log.bundle(8, handovers=[6]), 3, contains="signed by key 2, which is pending")
        # An empty handovers array is the same as none.
        b = log.bundle(1, cp_size=3)
        b["handovers"] = []
        self.ok(b)

    def test_bad_handovers_in_bundles(self):
        log = self.log
        base = log.bundle(8)

        def alt(mutate) -> dict:
            b = copy.deepcopy(base)
            mutate(b["handovers"])
            return b

        forged = self.fed.log().put(3).handover(self.k2, signer=self.k2)
        foreign = self.fed.log().put(3).handover(self.outsider)
        skipping = self.fed.log().put(3).handover(self.k3)
        put3 = log.handover_item(2, 9)  # entry 2 is a Put
        cases = [
            ("out of order", alt(lambda h: h.reverse()), 3, "increasing order"),
            ("twice", alt(lambda h: h.insert(1, copy.deepcopy(h[0]))), 3, "increasing order"),
            ("signed by the key it names", alt(lambda h: h.__setitem__(0, dict(
                h[0], entry=b64e(forged.entries[3]), entry_signature=b64e(forged.sigs[3])))),
             3, "signed by key 2, which is pending"),
            ("naming a key not in the roster", alt(lambda h: h.__setitem__(0, dict(
                h[0], entry=b64e(foreign.entries[3]), entry_signature=b64e(foreign.sigs[3])))),
             3, "not gulou's in the roster"),
            ("skipping a key", alt(lambda h: h.__setitem__(0, dict(
                h[0], entry=b64e(skipping.entries[3]), entry_signature=b64e(skipping.sigs[3])))),
             3, "skipping key 2"),
            ("signature altered", alt(lambda h: h[0].update(entry_signature=flip_b64(h[0]["entry_signature"], 3))),
             3, "signature does not verify with gulou's key 1"),
            ("not a handover", alt(lambda h: h.insert(0, put3)), 3, "not a KeyHandover"),
            ("wrong position", alt(lambda h: h[0].update(leaf_index=2)), 3, ""),
            ("not included", alt(lambda h: h[1].update(inclusion_proof=[flip_b64(x, 0) for x in h[1]["inclusion_proof"]])),
             8, "handovers[1] (position 6)"),
            ("proof of another size", alt(lambda h: h[0].update(inclusion_proof=log.proof(3, 8))), 8, "handovers[0]"),
            ("extra field", alt(lambda h: h[0].update(key="x")), 1, ""),
            ("missing field", alt(lambda h: h[0].pop("inclusion_proof")), 1, ""),
            ("leaf_index a string", alt(lambda h: h[0].update(leaf_index="3")), 1, ""),
            ("leaf_index negative", alt(lambda h: h[0].update(leaf_index=-1)), 1, ""),
            ("not an object", alt(lambda h: h.append([])), 1, ""),
        ]
        for what, b, step, contains in cases:
            with self.subTest(what):
                self.bad(b, step, what, contains)
        b = copy.deepcopy(base)
        b["handovers"] = {}
        self.bad(b, 1)
        # A handover beyond the checkpoint is not included in it.
        b = log.bundle(1, cp_size=5, handovers=[3])
        b["handovers"].append(log.handover_item(6, 9))
        self.bad(b, 8, contains="not below the checkpoint size 5")

    def test_v1_bundle_with_a_v2_roster(self):
        # rongxin-bundle/1 (no suite) is ed25519-sha256 and reads a v2 roster.
        b = self.log.bundle(4)
        b["format"] = "rongxin-bundle/1"
        del b["suite"]
        self.ok(b)


# ---------------------------------------------------------------------------
# Command line, and agreement with rongxinctl when it is available
# ---------------------------------------------------------------------------

def run_tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True, timeout=60)


class CommandLine(unittest.TestCase):
    def test_bundle_ok_and_failed(self):
        for name in BUNDLES:
            p = run_tool(str(FIX / name), "--root", str(FIX / "root.pub"))
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertRegex(p.stdout, r"^OK origin=gulou seq=\d+ .*key=\S+ checkpoint_size=7")
        with tempfile.TemporaryDirectory() as d:
            b = load_bundle()
            b["leaf_index"] = 2
            path = Path(d) / "b.json"
            path.write_text(json.dumps(b), encoding="utf-8")
            p = run_tool(str(path), "--root", str(FIX / "root.pub"))
            self.assertEqual(p.returncode, 1)
            self.assertTrue(p.stdout.startswith("FAILED: step 5 (origin and seq): "), p.stdout)
            path.write_text("{not json", encoding="utf-8")
            p = run_tool(str(path), "--root", str(FIX / "root.pub"))
            self.assertEqual(p.returncode, 1)
            self.assertTrue(p.stdout.startswith("FAILED: "), p.stdout)
        p = run_tool(str(FIX / BUNDLES[0]), "--root", str(FIX / "no-such.pub"))
        self.assertEqual(p.returncode, 1)
        self.assertTrue(p.stdout.startswith("FAILED: "), p.stdout)

    def test_log_mode(self):
        args = ["log", "--entries", str(FIX / "entries-gulou.json"), "--checkpoint",
                str(FIX / "checkpoint-gulou.txt"), "--roster", str(FIX / "roster.signed"),
                "--root", str(FIX / "root.pub")]
        p = run_tool(*args)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertTrue(p.stdout.startswith("OK origin=gulou entries=7 checkpoint_size=7"), p.stdout)
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "cp.txt"
            path.write_text(read("checkpoint-gulou.txt").replace("\n7\n", "\n8\n"), encoding="utf-8")
            args[4] = str(path)
            p = run_tool(*args)
            self.assertEqual(p.returncode, 1)
            self.assertTrue(p.stdout.startswith("FAILED: checkpoint: "), p.stdout)


RONGXINCTL = os.environ.get("RONGXINCTL")


@unittest.skipUnless(RONGXINCTL, "set RONGXINCTL=path/to/rongxinctl to compare with it")
class AgreesWithRongxinctl(unittest.TestCase):
    def test_same_verdicts(self):
        base = load_bundle()
        cases = {name: load_bundle(name) for name in BUNDLES}

        def alt(name, mutate):
            b = copy.deepcopy(base)
            mutate(b)
            cases[name] = b

        def flip(s: str, i: int) -> str:
            t = bytearray(b64d(s))
            t[i] ^= 1
            return b64e(bytes(t))

        entry_len = len(b64d(base["entry"]))
        for i in range(0, entry_len, 7):
            alt(f"entry byte {i}", lambda b, i=i: b.update(entry=flip(b["entry"], i)))
        alt("signature", lambda b: b.update(entry_signature=flip(b["entry_signature"], 9)))
        for j in range(len(base["inclusion_proof"])):
            alt(f"proof {j}", lambda b, j=j: b["inclusion_proof"].__setitem__(j, flip(b["inclusion_proof"][j], 3)))
        alt("proof swapped", lambda b: b["inclusion_proof"].reverse())
        alt("checkpoint size", lambda b: b.update(checkpoint=b["checkpoint"].replace("\n7\n", "\n8\n")))
        alt("roster byte", lambda b: b.update(roster=b["roster"].replace('"350102"', '"350103"', 1)))
        alt("other member key", lambda b: b.update(origin_public_key=TAIJIANG_KEY))
        alt("leaf_index", lambda b: b.update(leaf_index=b["leaf_index"] + 1))
        root = str(FIX / "root.pub")
        with tempfile.TemporaryDirectory() as d:
            for name, b in cases.items():
                path = Path(d) / "b.json"
                path.write_text(json.dumps(b, ensure_ascii=False), encoding="utf-8")
                ours = run_tool(str(path), "--root", root).returncode
                theirs = subprocess.run([RONGXINCTL, "audit", "verify", str(path), "--root", root],
                                        capture_output=True, text=True, timeout=60).returncode
                self.assertEqual(ours, theirs, name)
            other = Path(d) / "other.pub"
            other.write_text(vkey_string("rongxin.fuzhou/root", raw_pub(Ed25519PrivateKey.generate())) + "\n")
            path = Path(d) / "b.json"
            path.write_text(json.dumps(base), encoding="utf-8")
            ours = run_tool(str(path), "--root", str(other)).returncode
            theirs = subprocess.run([RONGXINCTL, "audit", "verify", str(path), "--root", str(other)],
                                    capture_output=True, text=True, timeout=60).returncode
            self.assertEqual((ours, theirs), (1, 1))


def rongxinctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([RONGXINCTL, *args], capture_output=True, text=True, timeout=120)


@unittest.skipUnless(RONGXINCTL, "set RONGXINCTL=path/to/rongxinctl to compare with it")
class AgreesWithRongxinctlOnKeyHistoriesAndSm2(unittest.TestCase):
    """Material built here in Python, judged by both this tool and
    `rongxinctl audit verify` (which is the reference code): every verdict
    must agree. To compare more cases, add bundles to `cases`."""

    def compare(self, fed: Fed2, cases: dict[str, dict]) -> None:
        with tempfile.TemporaryDirectory() as d:
            m = Material(d, fed.root_vkey())
            for name, b in cases.items():
                ours, theirs = m.verdicts(name, b)
                self.assertEqual(ours, theirs, name)

    def test_key_history_bundles(self):
        fed = Fed2(EdKey)
        k2, k3 = EdKey(), EdKey()
        fed.histories["gulou"] += [HKey(k2), HKey(k3)]
        log = fed.log().put(3).handover(k2).put(2).handover(k3).put(2)
        cases = {f"seq {i}": log.bundle(i) for i in (0, 3, 4, 8)}
        cases["old checkpoint"] = log.bundle(1, cp_size=3)
        cases["no handovers"] = log.bundle(4, handovers=[])
        cases["first handover only"] = log.bundle(1, handovers=[3])
        cases["second handover only"] = log.bundle(8, handovers=[6])
        b = log.bundle(8)
        b["handovers"].reverse()
        cases["reversed"] = b
        b = log.bundle(8)
        b["handovers"][1]["inclusion_proof"] = log.proof(6, 8)
        cases["handover not included"] = b
        bad = fed.log().put(3).handover(k2).put(1, signer=fed.histories["gulou"][0].key)
        cases["old key after the switch"] = bad.bundle(4)
        comp = fed.roster(histories={**fed.histories, "gulou": [HKey(fed.histories["gulou"][0].key, 0, True),
                                                               HKey(k2, 3)]})
        thief = fed.log().put(4)
        cases["compromised key past its end"] = thief.bundle(3, roster=comp, checkpoint=thief.checkpoint(4, signer=k2))
        self.compare(fed, cases)

    def test_sm2_bundles(self):
        with tempfile.TemporaryDirectory() as keys:
            fed = Fed2(lambda: Sm2Key(keys))
            k2 = Sm2Key(keys)
            fed.histories["gulou"].append(HKey(k2))
            log = fed.log().put(2).handover(k2).put(1)
            base = log.bundle(3)
            cases = {"seq 3": base, "seq 0": log.bundle(0, cp_size=2)}
            cases["signature"] = dict(base, entry_signature=flip_b64(base["entry_signature"], 9))
            cases["entry"] = dict(base, entry=flip_b64(base["entry"], 30))
            cases["proof"] = dict(base, inclusion_proof=base["inclusion_proof"][::-1])
            cases["suite"] = dict(base, suite="ed25519-sha256")
            cases["no handovers"] = {k: v for k, v in base.items() if k != "handovers"}
            cases["sha256 digest"] = dict(base, roster=fed.roster(digest="sha256:" + "ab" * 32))
            self.compare(fed, cases)

    def test_sm2_keys_and_roster_made_by_rongxinctl(self):
        # Keys (SM3 key ids, the 0xff "rongxin-sm2" type) and a roster note
        # signed by rongxinctl's SM2 root, read here.
        fed = "rongxin.test"
        with tempfile.TemporaryDirectory() as d:
            steps = [
                ["keygen", "--root", "--suite", "sm2-sm3", "--federation", fed, "--out", f"{d}/root"],
                ["keygen", "--member", "city", "--suite", "sm2-sm3", "--federation", fed, "--out", f"{d}/city"],
                ["roster", "new", "--suite", "sm2-sm3", "--federation", fed, "--out", f"{d}/draft.toml",
                 "--valid-from", "2026-01-01", "--valid-until", "2026-12-31", "--catalog", str(CATALOG)],
                ["roster", "add-member", "--id", "city", "--name", "市", "--role", "city",
                 "--jurisdiction", "350100", "--keys", f"{d}/city", f"{d}/draft.toml"],
                ["roster", "sign", "--root-key", f"{d}/root/root.key", "--out", f"{d}/roster.signed",
                 f"{d}/draft.toml"],
            ]
            for args in steps:
                p = rongxinctl(*args)
                self.assertEqual(p.returncode, 0, f"{args}: {p.stdout}{p.stderr}")
            root = rv.parse_verifier_key(Path(f"{d}/root/root.pub").read_text(encoding="utf-8"))
            self.assertEqual((root.suite, root.name), (rv.SM2_SM3, f"{fed}/root"))
            member = rv.parse_verifier_key(Path(f"{d}/city/signing.pub").read_text(encoding="utf-8"))
            self.assertEqual(member.suite, rv.SM2_SM3)
            roster = rv.parse_roster(Path(f"{d}/roster.signed").read_text(encoding="utf-8"), root)
            self.assertEqual(roster.suite, rv.SM2_SM3)
            self.assertEqual(roster.member("city").keys[0].key, member.public_key)
            self.assertEqual(roster.catalog_digest, "sm3:" + hashlib.new("sm3", CATALOG.read_bytes()).hexdigest())


if __name__ == "__main__":
    unittest.main()
