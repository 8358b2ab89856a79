"""Tests of tools/sm2_openssl.py (SM3 by hashlib, SM2 by the openssl command).

Run: python3 -m unittest discover -s tools -p 'test_*.py' -v

Needs `openssl` 3.0 or later with SM2 on PATH (or RONGXIN_OPENSSL); without
it these tests fail with a message naming the fix, they are not skipped.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path
from unittest import mock

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import sm2_openssl as sm2  # noqa: E402

# SM2 recommended curve (GM/T 0003.5-2012 / GB/T 32918.5-2017).
CURVE_A = bytes.fromhex("fffffffeffffffffffffffffffffffffffffffff00000000fffffffffffffffc")
CURVE_B = bytes.fromhex("28e9fa9e9d9f5e344d5a9e4bcf6509a7f39789f515ab8f92ddbcbd414d940e93")
CURVE_GX = bytes.fromhex("32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7")
CURVE_GY = bytes.fromhex("bc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0")
CURVE_N = bytes.fromhex("fffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123")

# The signature example of GM/T 0003.5-2012 Annex A (= GB/T 32918.5-2017),
# on the recommended curve above, so OpenSSL can check it. (The examples of
# GM/T 0003.2-2012 / GB/T 32918.2-2016 Annex A, and of draft-shen-sm2-ecdsa,
# use a test curve over p = 8542D69E...08F1DFC3 with ID "ALICE123@YAHOO.COM";
# OpenSSL knows only the recommended curve for SM2, so that example is not
# used here.) Private key dA = 3945208F...4DF7C5B8, nonce k = 59276E27...
# EAC1BC21; the same values are in OpenSSL's test/sm2_internal_test.c.
KAT_PUBLIC_KEY = bytes.fromhex(
    "04"
    "09f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020"
    "ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13"
)
KAT_ID = b"1234567812345678"
KAT_MESSAGE = b"message digest"
KAT_ZA = bytes.fromhex("b2e14c5c79c6df5b85f4fe7ed8db7a262b9da7e07ccb0ea9f4747b8ccda8a4f3")
KAT_E = bytes.fromhex("f0b43e94ba45accaace692ed534382eb17e6ab5a19ce7b31f4486fdfc0d28640")
KAT_R = bytes.fromhex("f5a03b0648d2c4630eeac513e1bb81a15944da3827d5b74143ac7eaceee720b3")
KAT_S = bytes.fromhex("b1b6aa29df212fd8763182bc0d421ca1bb9038fd1f7f42d4840b69c485bbc1aa")


def flip(data: bytes, index: int) -> bytes:
    b = bytearray(data)
    b[index] ^= 0x01
    return bytes(b)


class Sm3Test(unittest.TestCase):
    def test_gbt32905_examples(self):
        self.assertEqual(
            sm2.sm3(b"abc").hex(),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0",
        )
        self.assertEqual(
            sm2.sm3(b"abcd" * 16).hex(),
            "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732",
        )
        self.assertEqual(len(sm2.sm3(b"")), 32)

    def test_za_and_e_of_the_annex_example(self):
        # Z_A = SM3(ENTL || ID || a || b || xG || yG || xA || yA), e = SM3(Z_A || M):
        # the intermediate values printed in GM/T 0003.5 Annex A.
        entl = (len(KAT_ID) * 8).to_bytes(2, "big")
        za = sm2.sm3(entl + KAT_ID + CURVE_A + CURVE_B + CURVE_GX + CURVE_GY + KAT_PUBLIC_KEY[1:])
        self.assertEqual(za, KAT_ZA)
        self.assertEqual(sm2.sm3(za + KAT_MESSAGE), KAT_E)


class DerTest(unittest.TestCase):
    def test_spki_prefix(self):
        # SEQUENCE { SEQUENCE { id-ecPublicKey, sm2 }, BIT STRING 0x00 || point }
        der = sm2._spki_der(KAT_PUBLIC_KEY)
        self.assertEqual(der[:-65].hex(), "3059301306072a8648ce3d020106082a811ccf5501822d034200")
        self.assertEqual(der[-65:], KAT_PUBLIC_KEY)

    def test_signature_integers_are_minimal(self):
        raw = b"\x00" * 31 + b"\x01" + b"\x80" + b"\x00" * 31
        der = sm2._signature_der(raw)
        self.assertEqual(der.hex(), "3026" + "020101" + "022100" + "80" + "00" * 31)
        self.assertEqual(sm2._signature_raw(der), raw)
        kat = sm2._signature_der(KAT_R + KAT_S)
        self.assertEqual(kat[:4].hex(), "30460221")  # both r and s have the high bit set
        self.assertEqual(sm2._signature_raw(kat), KAT_R + KAT_S)

    def test_non_minimal_der_is_refused(self):
        for bad in ("3007020200010201010000", "300702020001020101",  # leading zero, bad length
                    "3006020101020181", "300602010102"):  # negative s, truncated
            with self.assertRaises(ValueError, msg=bad):
                sm2._signature_raw(bytes.fromhex(bad))


class Sm2KnownAnswerTest(unittest.TestCase):
    def test_annex_a_signature_verifies(self):
        self.assertTrue(sm2.sm2_verify(KAT_PUBLIC_KEY, KAT_MESSAGE, KAT_R + KAT_S))
        self.assertTrue(sm2.sm2_verify(KAT_PUBLIC_KEY, KAT_MESSAGE, KAT_R + KAT_S, KAT_ID))

    def test_annex_a_signature_altered(self):
        sig = KAT_R + KAT_S
        self.assertFalse(sm2.sm2_verify(KAT_PUBLIC_KEY, b"message digesT", sig))
        self.assertFalse(sm2.sm2_verify(KAT_PUBLIC_KEY, KAT_MESSAGE, flip(sig, 63)))
        self.assertFalse(sm2.sm2_verify(KAT_PUBLIC_KEY, KAT_MESSAGE, sig, b"1234567812345679"))
        # OpenSSL's own default identifier is empty; the suite's is not.
        self.assertFalse(sm2.sm2_verify(KAT_PUBLIC_KEY, KAT_MESSAGE, sig, b""))
        # Y changed: not a point of the curve, so openssl refuses the key.
        self.assertFalse(sm2.sm2_verify(flip(KAT_PUBLIC_KEY, 64), KAT_MESSAGE, sig))
        # r or s not below n.
        self.assertFalse(sm2.sm2_verify(KAT_PUBLIC_KEY, KAT_MESSAGE, CURVE_N + KAT_S))
        self.assertFalse(sm2.sm2_verify(KAT_PUBLIC_KEY, KAT_MESSAGE, KAT_R + CURVE_N))


class Sm2OpensslTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._dir = tempfile.TemporaryDirectory()
        cls.key, cls.pub = sm2.sm2_generate_key(cls._dir.name)
        cls.message = b"rongxin sm2-sm3 test message\n"
        cls.sig = sm2.sm2_sign_with_openssl(cls.key, cls.message)

    @classmethod
    def tearDownClass(cls):
        cls._dir.cleanup()

    def test_generated_key(self):
        self.assertEqual(len(self.pub), 65)
        self.assertEqual(self.pub[0], 0x04)
        self.assertEqual(os.stat(self.key).st_mode & 0o077, 0)
        # openssl's own SubjectPublicKeyInfo is the one built from the point.
        der = subprocess.run([sm2.OPENSSL, "pkey", "-in", self.key, "-pubout", "-outform", "DER"],
                             capture_output=True, check=True, timeout=30).stdout
        self.assertEqual(der, sm2._spki_der(self.pub))

    def test_sign_then_verify(self):
        self.assertEqual(len(self.sig), 64)
        self.assertTrue(sm2.sm2_verify(self.pub, self.message, self.sig))
        self.assertTrue(sm2.sm2_verify(bytearray(self.pub), memoryview(self.message), bytearray(self.sig)))

    def test_empty_message(self):
        sig = sm2.sm2_sign_with_openssl(self.key, b"")
        self.assertTrue(sm2.sm2_verify(self.pub, b"", sig))
        self.assertFalse(sm2.sm2_verify(self.pub, b"\x00", sig))

    def test_tampered_message(self):
        self.assertFalse(sm2.sm2_verify(self.pub, self.message[:-1], self.sig))
        self.assertFalse(sm2.sm2_verify(self.pub, flip(self.message, 0), self.sig))

    def test_tampered_signature(self):
        self.assertFalse(sm2.sm2_verify(self.pub, self.message, flip(self.sig, 0)))
        self.assertFalse(sm2.sm2_verify(self.pub, self.message, flip(self.sig, 40)))
        self.assertFalse(sm2.sm2_verify(self.pub, self.message, self.sig[32:] + self.sig[:32]))

    def test_other_key(self):
        self.assertFalse(sm2.sm2_verify(KAT_PUBLIC_KEY, self.message, self.sig))

    def test_wrong_distid(self):
        self.assertFalse(sm2.sm2_verify(self.pub, self.message, self.sig, b"other-id"))
        self.assertFalse(sm2.sm2_verify(self.pub, self.message, self.sig, b""))

    def test_other_distid_verifies_only_with_it(self):
        sig = sm2.sm2_sign_with_openssl(self.key, self.message, b"other-id")
        self.assertTrue(sm2.sm2_verify(self.pub, self.message, sig, b"other-id"))
        self.assertFalse(sm2.sm2_verify(self.pub, self.message, sig))
        self.assertFalse(sm2.sm2_verify(self.pub, self.message, sig, b"other-i"))
        # Any bytes are an identifier (passed to openssl in hex).
        odd = bytes(range(256))
        sig = sm2.sm2_sign_with_openssl(self.key, self.message, odd)
        self.assertTrue(sm2.sm2_verify(self.pub, self.message, sig, odd))
        self.assertFalse(sm2.sm2_verify(self.pub, self.message, sig, odd[:-1]))

    def test_malformed_input_is_false_without_openssl(self):
        pub, msg, sig = self.pub, self.message, self.sig
        zero = b"\x00" * 32
        cases = {
            "key 64 bytes": (pub[1:], msg, sig),
            "key 66 bytes": (pub + b"\x00", msg, sig),
            "key 33 bytes (compressed)": (bytes([2 + (pub[64] & 1)]) + pub[1:33], msg, sig),
            "key not 0x04": (b"\x06" + pub[1:], msg, sig),
            "empty key": (b"", msg, sig),
            "signature 63 bytes": (pub, msg, sig[:-1]),
            "signature 65 bytes": (pub, msg, sig + b"\x00"),
            "signature DER": (pub, msg, sm2._signature_der(sig)),
            "r = 0": (pub, msg, zero + sig[32:]),
            "s = 0": (pub, msg, sig[:32] + zero),
            "key as str": (pub.hex(), msg, sig),
            "message as str": (pub, msg.decode(), sig),
            "signature as int": (pub, msg, 64),
            "message None": (pub, None, sig),
        }
        # None of these reaches openssl: a missing one would raise.
        with mock.patch.object(sm2, "OPENSSL", "/nonexistent/openssl"):
            for name, (p, m, s) in cases.items():
                with self.subTest(name):
                    self.assertIs(sm2.sm2_verify(p, m, s), False)
            self.assertIs(sm2.sm2_verify(pub, msg, sig, "1234567812345678"), False)
            self.assertIs(sm2.sm2_verify(pub, msg, sig, b"x" * (sm2.MAX_DISTID_LEN + 1)), False)

    def test_missing_openssl_names_the_fix(self):
        sm2._check_openssl.cache_clear()
        try:
            with mock.patch.object(sm2, "OPENSSL", "/nonexistent/openssl"):
                with self.assertRaises(RuntimeError) as cm:
                    sm2.sm2_verify(self.pub, self.message, self.sig)
            self.assertIn("RONGXIN_OPENSSL", str(cm.exception))
            self.assertIn("OpenSSL 3.0", str(cm.exception))
        finally:
            sm2._check_openssl.cache_clear()

    def test_openssl_without_sm2_names_the_fix(self):
        # An openssl that cannot verify the GM/T 0003.5 example (here: `false`).
        false = shutil.which("false")
        if false is None:
            self.skipTest("no `false` command")
        sm2._check_openssl.cache_clear()
        try:
            with mock.patch.object(sm2, "OPENSSL", false):
                with self.assertRaisesRegex(RuntimeError, "cannot verify SM2 signatures: install OpenSSL 3.0"):
                    sm2.sm2_verify(self.pub, self.message, self.sig)
        finally:
            sm2._check_openssl.cache_clear()


if __name__ == "__main__":
    unittest.main()
