"""SM2 signature verification (suite sm2-sm3, protocol.md §1.1) by the
machine's `openssl` command, and SM3 by hashlib.

No cryptographic primitive is implemented here: SM3 is hashlib's (OpenSSL's),
and SM2 (GB/T 32918.2-2016 / GM/T 0003.2-2012, Z_A with SM3 and a
distinguishing identifier, GM/T 0009-2012 §10) is computed by `openssl
pkeyutl`. This module only converts encodings: the raw 65-byte public point
into a PEM SubjectPublicKeyInfo, and the raw 64-byte r || s into the DER
ECDSA-Sig-Value OpenSSL reads (and back, for signing in tests).

The invocation (OpenSSL 3.0 or later):

    openssl pkeyutl -verify -rawin -digest sm3 -pubin -inkey pub.pem
            -in msg -sigfile sig.der -pkeyopt hexdistid:<hex of distid>

`hexdistid:31323334353637383132333435363738` is `distid:1234567812345678`;
the hex form carries any bytes. The identifier is always passed: OpenSSL 3.0
computes Z_A with an EMPTY identifier when none is given, not the GM/T 0009
default, so such a signature would not verify against a standard signer.

Set RONGXIN_OPENSSL to the path of an OpenSSL 3 binary when `openssl` on PATH
is missing or cannot do SM2 (macOS's /usr/bin/openssl is LibreSSL).
Depends on the Python 3.11 standard library only.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import subprocess
import tempfile
from pathlib import Path

OPENSSL = os.environ.get("RONGXIN_OPENSSL", "openssl")
TIMEOUT_SECONDS = 30
DEFAULT_DISTID = b"1234567812345678"
# OpenSSL refuses identifiers of UINT16_MAX / 8 = 8191 bytes and more (ENTL,
# the identifier's length in bits, is two bytes).
MAX_DISTID_LEN = 8190

# DER of AlgorithmIdentifier { id-ecPublicKey 1.2.840.10045.2.1, sm2 1.2.156.10197.1.301 }
_OID_EC_PUBLIC_KEY = bytes.fromhex("06072a8648ce3d0201")
_OID_SM2 = bytes.fromhex("06082a811ccf5501822d")

# GM/T 0003.5-2012 (= GB/T 32918.5-2017) Annex A, on the recommended curve:
# run once to check that the openssl found can verify SM2 at all.
_KAT_PUBLIC_KEY = bytes.fromhex(
    "04"
    "09f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020"
    "ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13"
)
_KAT_MESSAGE = b"message digest"
_KAT_SIGNATURE = bytes.fromhex(
    "f5a03b0648d2c4630eeac513e1bb81a15944da3827d5b74143ac7eaceee720b3"
    "b1b6aa29df212fd8763182bc0d421ca1bb9038fd1f7f42d4840b69c485bbc1aa"
)


def sm3(data: bytes) -> bytes:
    """SM3 (GB/T 32905-2016) of `data`, 32 bytes."""
    return hashlib.new("sm3", data).digest()


# ---------------------------------------------------------------------------
# DER (only the two structures needed; every length here is below 128)
# ---------------------------------------------------------------------------

def _der(tag: int, content: bytes) -> bytes:
    assert len(content) < 128
    return bytes([tag, len(content)]) + content


def _der_integer(value: bytes) -> bytes:
    """Minimal DER INTEGER of the non-negative big-endian `value`."""
    v = value.lstrip(b"\x00") or b"\x00"
    if v[0] & 0x80:
        v = b"\x00" + v
    return _der(0x02, v)


def _spki_der(point: bytes) -> bytes:
    alg = _der(0x30, _OID_EC_PUBLIC_KEY + _OID_SM2)
    return _der(0x30, alg + _der(0x03, b"\x00" + point))


def _spki_pem(point: bytes) -> bytes:
    b64 = base64.b64encode(_spki_der(point)).decode("ascii")
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    body = "\n".join(lines)
    return f"-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n".encode("ascii")


def _signature_der(signature: bytes) -> bytes:
    return _der(0x30, _der_integer(signature[:32]) + _der_integer(signature[32:]))


def _signature_raw(der: bytes) -> bytes:
    """r || s from a strict DER ECDSA-Sig-Value; ValueError otherwise."""
    if len(der) < 8 or der[0] != 0x30 or der[1] != len(der) - 2:
        raise ValueError("not a DER SEQUENCE of the expected length")
    parts = []
    i = 2
    for _ in range(2):
        if i + 2 > len(der) or der[i] != 0x02:
            raise ValueError("not a DER INTEGER")
        n = der[i + 1]
        value = der[i + 2 : i + 2 + n]
        if n == 0 or len(value) != n or value[0] & 0x80:
            raise ValueError("bad DER INTEGER")
        parts.append(value)
        i += 2 + n
    if i != len(der):
        raise ValueError("trailing bytes after the signature")
    r, s = (p.lstrip(b"\x00") for p in parts)
    if len(r) > 32 or len(s) > 32:
        raise ValueError("r or s is longer than 32 bytes")
    raw = r.rjust(32, b"\x00") + s.rjust(32, b"\x00")
    if _signature_der(raw) != der:
        raise ValueError("not minimal DER")
    return raw


# ---------------------------------------------------------------------------
# openssl
# ---------------------------------------------------------------------------

_FIX = (
    "install OpenSSL 3.0 or later built with SM2 (e.g. `apt-get install openssl`), "
    "or set RONGXIN_OPENSSL to the path of such an openssl binary"
)


def _run(args: list[str]) -> subprocess.CompletedProcess:
    """Run `openssl args...` (no shell, no stdin, with a timeout)."""
    try:
        return subprocess.run(
            [OPENSSL, *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    except FileNotFoundError:
        raise RuntimeError(f"SM2 needs the openssl command, and {OPENSSL!r} was not found: {_FIX}") from None
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{OPENSSL} {args[0]} did not finish within {TIMEOUT_SECONDS} s") from None


def _stderr(p: subprocess.CompletedProcess) -> str:
    return p.stderr.decode("utf-8", "replace").strip()


def _distid_opt(distid: bytes) -> str:
    return "hexdistid:" + distid.hex()


def _pkeyutl_verify(point: bytes, message: bytes, signature: bytes, distid: bytes) -> bool:
    with tempfile.TemporaryDirectory(prefix="rongxin-sm2-") as d:
        pub, msg, sig = (os.path.join(d, n) for n in ("pub.pem", "msg", "sig.der"))
        Path(pub).write_bytes(_spki_pem(point))
        Path(msg).write_bytes(message)
        Path(sig).write_bytes(_signature_der(signature))
        p = _run(["pkeyutl", "-verify", "-rawin", "-digest", "sm3", "-pubin", "-inkey", pub,
                  "-in", msg, "-sigfile", sig, "-pkeyopt", _distid_opt(distid)])
    # OpenSSL 3: exit 0 and this line on success; exit 1 on a bad signature,
    # and also on a key it refuses to load (not a point of the curve).
    return p.returncode == 0 and b"Signature Verified Successfully" in p.stdout


@functools.cache
def _check_openssl() -> None:
    """Raise RuntimeError unless `openssl` verifies the GM/T 0003.5 example.
    Cached once it succeeds (functools.cache does not keep exceptions)."""
    version = _run(["version"]).stdout.decode("utf-8", "replace").strip()
    if not _pkeyutl_verify(_KAT_PUBLIC_KEY, _KAT_MESSAGE, _KAT_SIGNATURE, DEFAULT_DISTID):
        raise RuntimeError(f"{OPENSSL} ({version or 'unknown version'}) cannot verify SM2 signatures: {_FIX}")


def sm2_verify(public_key: bytes, message: bytes, signature: bytes, distid: bytes = DEFAULT_DISTID) -> bool:
    """True iff `signature` (raw r || s, 32 bytes each, big endian) is a valid
    SM2 signature of `message` under `public_key` (SEC1 uncompressed,
    0x04 || X || Y, on the SM2 recommended curve) with identifier `distid`.

    Malformed input (wrong type or length, not 0x04, r or s zero, a point not
    on the curve, r or s not below n) gives False, never an exception.
    RuntimeError only when openssl is missing, cannot do SM2, or hangs."""
    args = (public_key, message, signature, distid)
    if not all(isinstance(x, (bytes, bytearray, memoryview)) for x in args):
        return False
    public_key, message, signature, distid = (bytes(x) for x in args)
    if len(public_key) != 65 or public_key[0] != 0x04:
        return False
    if len(signature) != 64 or not any(signature[:32]) or not any(signature[32:]):
        return False
    if len(distid) > MAX_DISTID_LEN:
        return False
    _check_openssl()
    return _pkeyutl_verify(public_key, message, signature, distid)


def sm2_sign_with_openssl(private_pem_path: str | os.PathLike, message: bytes,
                          distid: bytes = DEFAULT_DISTID) -> bytes:
    """Sign `message` with the SM2 private key in `private_pem_path` (as
    written by sm2_generate_key) by openssl; returns raw r || s (64 bytes).
    For tests. RuntimeError if openssl fails."""
    with tempfile.TemporaryDirectory(prefix="rongxin-sm2-") as d:
        msg, sig = os.path.join(d, "msg"), os.path.join(d, "sig.der")
        Path(msg).write_bytes(bytes(message))
        p = _run(["pkeyutl", "-sign", "-rawin", "-digest", "sm3", "-inkey", os.fspath(private_pem_path),
                  "-in", msg, "-out", sig, "-pkeyopt", _distid_opt(bytes(distid))])
        if p.returncode != 0:
            raise RuntimeError(f"{OPENSSL} pkeyutl -sign failed: {_stderr(p)}")
        der = Path(sig).read_bytes()
    try:
        return _signature_raw(der)
    except ValueError as e:
        raise RuntimeError(f"{OPENSSL} wrote a signature that is not DER r, s: {e}") from None


def sm2_generate_key(dirpath: str | os.PathLike) -> tuple[str, bytes]:
    """Generate an SM2 key pair with openssl. The private key is written
    (PKCS#8 PEM, mode 0600) to a new file in `dirpath`; returns its path and
    the raw 65-byte public key 0x04 || X || Y. For tests."""
    fd, key = tempfile.mkstemp(prefix="sm2-", suffix=".pem", dir=dirpath)
    os.close(fd)
    p = _run(["genpkey", "-algorithm", "SM2", "-out", key])
    if p.returncode != 0:
        raise RuntimeError(f"{OPENSSL} genpkey -algorithm SM2 failed: {_stderr(p)}: {_FIX}")
    p = _run(["pkey", "-in", key, "-pubout", "-outform", "DER"])
    der = p.stdout
    point = der[-65:]
    if p.returncode != 0 or len(point) != 65 or _spki_der(point) != der:
        raise RuntimeError(f"{OPENSSL} pkey -pubout did not give an SM2 SubjectPublicKeyInfo")
    return key, point
