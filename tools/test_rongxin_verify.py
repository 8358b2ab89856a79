"""Tests of tools/rongxin_verify.py, the independent Python verifier.

Run: python3 -m unittest discover -s tools -p 'test_*.py' -v

Fixtures (tools/fixtures/) were fetched from a real rongxin-node of the
example federation (config-examples/, member gulou) holding 7 entries:
bundles of seq 1 (a CF Put), 5 (a Revoke) and 6 (the last leaf), the entries
page, the checkpoint, and copies of root.pub and roster.signed.

Further cases use a synthetic federation whose keys are generated here, so
that altered content can be signed validly and each later step is reached.

Set RONGXINCTL=/path/to/rongxinctl to also check that `rongxinctl audit
verify` agrees with this tool on the real and tampered bundles.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
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

FIX = HERE / "fixtures"
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
        ]
        entries, prev = [], bytes(32)
        for s, op in enumerate(ops):
            raw = rv.encode_entry(rv.Entry("gulou", s, prev, 1_790_000_000_000, op))
            self.assertEqual(rv.decode_entry(raw).op, op)
            entries.append(raw)
            prev = rv.leaf_hash(raw)
        for i in range(3):
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
            "tag version 2": tag[:-1] + b"\x02" + good[len(tag):],
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
        # An op variant index out of range (4).
        op_at = len(tag) + 8 + 5 + 8 + 32 + 8
        self.assertEqual(good[op_at:op_at + 4], b"\x00\x00\x00\x00")
        cases["op variant 4"] = good[:op_at] + b"\x00\x00\x00\x04" + good[op_at + 4:]
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


if __name__ == "__main__":
    unittest.main()
