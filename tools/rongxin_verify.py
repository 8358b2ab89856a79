#!/usr/bin/env python3
"""Independent offline verifier for Rongxin provenance bundles and logs.

Written from docs/protocol.md (no Rongxin code is used or called). Where
protocol.md is silent or ambiguous, the choice made is commented here with
"Not in protocol.md" / "protocol.md ... does not say", and follows what the
reference implementation (rongxin-protocol) does, so both agree.

Both signature suites of protocol.md §1.1 are checked:
  ed25519-sha256  Ed25519 by the `cryptography` package (plus the strict
                  rules: canonical S, no small-order key or R), SHA-256 by
                  hashlib;
  sm2-sm3         SM2 by the `openssl` command (OpenSSL 3.0 or later, or
                  the binary named by RONGXIN_OPENSSL) through
                  tools/sm2_openssl.py, next to this file; SM3 by hashlib.
Depends on the Python 3.11 standard library, the `cryptography` package,
tools/sm2_openssl.py and, for sm2-sm3 federations only, the `openssl` command.

Key histories (protocol.md §6.1) are followed: each log position and each
checkpoint is verified with the key the roster gives that position, and the
starts of pending keys are learned from the log's KeyHandover entries (log
mode) or from the bundle's `handovers` (bundle mode).

Usage:
  rongxin_verify.py BUNDLE.json --root ROOT.pub
  rongxin_verify.py log --entries ENTRIES.json --checkpoint CP.txt \\
                        --roster ROSTER.signed --root ROOT.pub [--allow-extra]

Exit 0 and print "OK ..." when every check holds; otherwise exit 1 and print
"FAILED: <step>: <why>" naming the first step that fails.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import calendar
import functools
import hashlib
import json
import os
import re
import sys
import tomllib
from dataclasses import dataclass, field
from typing import Any, Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

try:
    import sm2_openssl
except ModuleNotFoundError:  # imported from another directory than tools/
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import sm2_openssl


class VerifyError(Exception):
    """A check failed; `step` names the check, the message says why."""

    def __init__(self, step: str, why: str):
        super().__init__(f"{step}: {why}")
        self.step = step
        self.why = why


class FormatError(ValueError):
    """Malformed input inside one layer (note, bincode, roster, ...)."""


# ---------------------------------------------------------------------------
# base64 (protocol.md: standard alphabet with padding, RFC 4648 §4)
# ---------------------------------------------------------------------------

def b64decode_strict(s: Any, what: str = "value") -> bytes:
    """Standard base64 with padding; refuses anything but the canonical
    encoding (no whitespace, no missing padding, no non-zero pad bits)."""
    if not isinstance(s, str):
        raise FormatError(f"{what} is not a base64 string")
    if not re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", s) or len(s) % 4 != 0:
        raise FormatError(f"{what} is not standard padded base64")
    try:
        raw = base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError) as e:
        raise FormatError(f"{what} is not valid base64: {e}") from None
    if base64.b64encode(raw).decode("ascii") != s:
        raise FormatError(f"{what} is not canonical base64")
    return raw


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


# ---------------------------------------------------------------------------
# Ed25519, strict (RFC 8032; canonical S, no small-order A or R)
# ---------------------------------------------------------------------------

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = (-121665 * pow(121666, _P - 2, _P)) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _decompress(enc: bytes) -> tuple[int, int] | None:
    """RFC 8032 §5.1.3 point decoding; None if not a canonical curve point."""
    if len(enc) != 32:
        return None
    y = int.from_bytes(enc, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= _P:
        return None
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    x = (u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P)) % _P
    vx2 = (v * x * x) % _P
    if vx2 == u:
        pass
    elif vx2 == (-u) % _P:
        x = (x * _SQRT_M1) % _P
    else:
        return None
    if x == 0 and sign == 1:
        return None
    if (x & 1) != sign:
        x = _P - x
    return x, y


def _add(p1: tuple[int, int], p2: tuple[int, int]) -> tuple[int, int]:
    x1, y1 = p1
    x2, y2 = p2
    t = (_D * x1 * x2 * y1 * y2) % _P
    x3 = (x1 * y2 + y1 * x2) * pow((1 + t) % _P, _P - 2, _P) % _P
    y3 = (y1 * y2 + x1 * x2) * pow((1 - t) % _P, _P - 2, _P) % _P
    return x3, y3


def _small_order(pt: tuple[int, int]) -> bool:
    q = pt
    for _ in range(3):  # multiply by the cofactor 8
        q = _add(q, q)
    return q == (0, 1)


@functools.lru_cache(maxsize=1024)
def ed25519_key_problem(pub: bytes) -> str | None:
    """Why `pub` is not a usable (valid, non-weak) Ed25519 key, or None."""
    if len(pub) != 32:
        return f"public key is {len(pub)} bytes, not 32"
    pt = _decompress(pub)
    if pt is None:
        return "public key is not a canonical curve point"
    if _small_order(pt):
        return "public key is a weak (small-order) point"
    return None


def ed25519_verify_strict(pub: bytes, msg: bytes, sig: bytes) -> bool:
    if len(sig) != 64 or ed25519_key_problem(pub) is not None:
        return False
    r_pt = _decompress(sig[:32])
    if r_pt is None or _small_order(r_pt):
        return False
    if int.from_bytes(sig[32:], "little") >= _L:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(pub).verify(sig, msg)
    except (InvalidSignature, ValueError):
        return False
    return True


# ---------------------------------------------------------------------------
# SM2 public keys (protocol.md §1.1: SEC1 uncompressed, a point of the curve)
# ---------------------------------------------------------------------------

# The SM2 recommended curve (GB/T 32918.5-2017 / GM/T 0003.5-2012). Only the
# curve equation is used here, to refuse a roster key or handover key that is
# not a point of the curve; signatures are verified by openssl. The cofactor
# is 1, so every curve point other than infinity (which has no 65-byte
# encoding) is a usable key.
_SM2_P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
_SM2_A = _SM2_P - 3
_SM2_B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93


@functools.lru_cache(maxsize=1024)
def sm2_key_problem(pub: bytes) -> str | None:
    """Why `pub` is not an SM2 public key (0x04 || x || y on the curve), or None."""
    if len(pub) != 65:
        return f"public key is {len(pub)} bytes, not 65"
    if pub[0] != 0x04:
        return "public key is not SEC1 uncompressed (does not start with 0x04)"
    x, y = int.from_bytes(pub[1:33], "big"), int.from_bytes(pub[33:], "big")
    if x >= _SM2_P or y >= _SM2_P:
        return "public key coordinate is not below the field prime"
    if (y * y - (x * x * x + _SM2_A * x + _SM2_B)) % _SM2_P != 0:
        return "public key is not a point of the SM2 curve"
    return None


# ---------------------------------------------------------------------------
# Signature suites (protocol.md §1.1)
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Suite:
    """One signature suite: its signatures, its hash H, and its encodings."""

    name: str            # as in the roster and the bundle
    hash_name: str       # hashlib name; also the catalog_digest prefix
    entry_version: int   # last byte of the entry tag (§3.1)
    note_type: bytes     # note key type (§1, §2)
    public_key_len: int

    def hash(self, data: bytes) -> bytes:
        return hashlib.new(self.hash_name, data).digest()

    def key_problem(self, pub: bytes) -> str | None:
        """Why `pub` is not a valid public key of this suite, or None."""
        if self.name == "sm2-sm3":
            return sm2_key_problem(bytes(pub))
        return ed25519_key_problem(bytes(pub))

    def verify(self, pub: bytes, msg: bytes, sig: bytes) -> bool:
        """A signature of this suite (64 bytes) over exactly `msg`."""
        if len(sig) != 64 or self.key_problem(pub) is not None:
            return False
        if self.name == "sm2-sm3":
            # Z_A with the identifier 1234567812345678 (§1.1), sm2_openssl's default.
            return sm2_openssl.sm2_verify(pub, msg, sig, sm2_openssl.DEFAULT_DISTID)
        return ed25519_verify_strict(pub, msg, sig)

    def __str__(self) -> str:
        return self.name


ED25519_SHA256 = Suite("ed25519-sha256", "sha256", 0x01, b"\x01", 32)
SM2_SM3 = Suite("sm2-sm3", "sm3", 0x02, b"\xffrongxin-sm2", 65)
SUITES = {s.name: s for s in (ED25519_SHA256, SM2_SM3)}
# The suites this verifier checks (all of protocol.md §1.1).
SUPPORTED_SUITES = tuple(SUITES)


# ---------------------------------------------------------------------------
# Keys and signed notes (protocol.md §1, §2; golang.org/x/mod/sumdb/note)
# ---------------------------------------------------------------------------

def key_id(name: str, pub: bytes, suite: Suite = ED25519_SHA256) -> int:
    """First 4 bytes (big-endian) of H(name || 0x0A || type || pub): with
    SHA-256 and type 0x01 (Ed25519), with SM3 and 0xff "rongxin-sm2" (SM2)."""
    h = suite.hash(name.encode("utf-8") + b"\n" + suite.note_type + pub)
    return int.from_bytes(h[:4], "big")


def valid_key_name(name: str) -> bool:
    """Go note key names: non-empty, no Unicode space, no '+'."""
    return name != "" and "+" not in name and not any(c.isspace() for c in name)


@dataclass(frozen=True)
class Verifier:
    name: str
    id: int
    public_key: bytes
    suite: Suite = ED25519_SHA256

    @staticmethod
    def from_public_key(name: str, pub: bytes, suite: Suite = ED25519_SHA256) -> "Verifier":
        return Verifier(name, key_id(name, pub, suite), pub, suite)

    def verify(self, msg: bytes, sig: bytes) -> bool:
        return self.suite.verify(self.public_key, msg, sig)


def parse_verifier_key(vkey: str) -> Verifier:
    """`<name>+<key id, 8 hex>+<base64(type || public key)>`, type 0x01 and a
    32-byte Ed25519 key, or 0xff "rongxin-sm2" and a 65-byte SM2 key."""
    vkey = vkey.strip()
    parts = vkey.split("+", 2)  # the base64 key may itself contain '+'
    if len(parts) != 3:
        raise FormatError("verifier key is not <name>+<key id>+<base64 key>")
    name, hexid, keyb64 = parts
    if not valid_key_name(name):
        raise FormatError(f"verifier key name {name!r} is not a valid key name")
    if not re.fullmatch(r"[0-9a-fA-F]{8}", hexid):
        raise FormatError("verifier key id is not 8 hex digits")
    raw = b64decode_strict(keyb64, "verifier key")
    # The two types are no prefix of each other (0x01, 0xff ...).
    suite = next((s for s in SUITES.values() if raw.startswith(s.note_type)), None)
    if suite is None:
        raise FormatError("verifier key type is neither 0x01 (Ed25519) nor 0xff 'rongxin-sm2' (SM2)")
    pub = raw[len(suite.note_type):]
    if len(pub) != suite.public_key_len:
        raise FormatError(f"verifier key of suite {suite} is {len(pub)} bytes after its type, "
                          f"not {suite.public_key_len}")
    kid = int(hexid, 16)
    if key_id(name, pub, suite) != kid:
        raise FormatError(
            f"verifier key id {hexid} does not match the key (computed {key_id(name, pub, suite):08x})")
    problem = suite.key_problem(pub)
    if problem:
        raise FormatError(f"verifier key: {problem}")
    return Verifier(name, kid, pub, suite)


MAX_NOTE_BYTES = 1 << 20
MAX_NOTE_SIGNATURES = 100
SIG_PREFIX = "\u2014 "  # EM DASH, space


def open_note(msg: bytes | str, verifier: Verifier) -> str:
    """Verify a C2SP signed note with one known key; return its text.

    The text ends at the last blank line (as golang.org/x/mod/sumdb/note
    splits it); every signature line must be well formed; lines by other keys
    are ignored; the note is accepted if a line by our key (name and key id)
    verifies (protocol.md §2: "refuses the note if there is none that
    verifies"; Go's note.Open is stricter and refuses a note that also carries
    a bad signature by the same key).
    """
    if isinstance(msg, str):
        try:
            msg = msg.encode("utf-8")
        except UnicodeEncodeError:
            raise FormatError("note is not valid UTF-8 (lone surrogate)") from None
    if len(msg) > MAX_NOTE_BYTES:
        raise FormatError(f"note is {len(msg)} bytes, more than 1 MiB")
    try:
        s = msg.decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError("note is not valid UTF-8") from None
    split = s.rfind("\n\n")
    if split < 0:
        raise FormatError("note has no blank line before its signatures")
    text, sigs = s[: split + 1], s[split + 2:]
    # The text: one or more lines, each ending in \n, no blank line, no
    # control characters (Unicode Cc) but \n.
    for ch in text:
        if (ord(ch) < 0x20 and ch != "\n") or 0x7F <= ord(ch) <= 0x9F:
            raise FormatError(f"note text contains control character U+{ord(ch):04X}")
    if text.startswith("\n") or "\n\n" in text:
        raise FormatError("note text contains a blank line")
    if sigs == "" or not sigs.endswith("\n"):
        raise FormatError("note's signature block is empty or does not end with a newline")
    lines = sigs[:-1].split("\n")
    if len(lines) > MAX_NOTE_SIGNATURES:
        raise FormatError(f"note has {len(lines)} signatures, more than {MAX_NOTE_SIGNATURES}")
    found = verified = False
    for line in lines:
        if not line.startswith(SIG_PREFIX):
            raise FormatError(f"note signature line {line!r} does not start with '\u2014 '")
        rest = line[len(SIG_PREFIX):]
        name, sep, sigb64 = rest.partition(" ")
        if not sep or not valid_key_name(name) or sigb64 == "":
            raise FormatError(f"malformed note signature line {line!r}")
        sig = b64decode_strict(sigb64, "note signature")
        if len(sig) < 5:
            raise FormatError("note signature is shorter than key id + 1 byte")
        kid = int.from_bytes(sig[:4], "big")
        if name != verifier.name or kid != verifier.id:
            continue  # a signature by some other key: ignored
        found = True
        if verifier.verify(text.encode("utf-8"), sig[4:]):
            verified = True
    if not found:
        raise FormatError(
            f"note has no signature by {verifier.name} with key id {verifier.id:08x}")
    if not verified:
        raise FormatError(f"signature by {verifier.name} (key id {verifier.id:08x}) does not verify")
    return text


# ---------------------------------------------------------------------------
# Checkpoints (protocol.md §5; C2SP tlog-checkpoint)
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes


def parse_checkpoint_text(text: str) -> Checkpoint:
    if not text.endswith("\n"):
        raise FormatError("checkpoint text does not end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise FormatError("checkpoint has fewer than 3 lines (origin, size, root)")
    origin, size_s, root_s = lines[0], lines[1], lines[2]
    if origin == "":
        raise FormatError("checkpoint origin line is empty")
    if not re.fullmatch(r"0|[1-9][0-9]*", size_s) or int(size_s) >= 2**64:
        raise FormatError(f"checkpoint size {size_s!r} is not a decimal without leading zeros")
    root = b64decode_strict(root_s, "checkpoint root")
    if len(root) != 32:
        raise FormatError(f"checkpoint root is {len(root)} bytes, not 32")
    return Checkpoint(origin, int(size_s), root)  # extension lines are ignored


def open_checkpoint(note: str | bytes, verifier: Verifier) -> Checkpoint:
    cp = parse_checkpoint_text(open_note(note, verifier))
    if cp.origin != verifier.name:
        raise FormatError(f"checkpoint origin {cp.origin!r} is not the key name {verifier.name!r}")
    return cp


# ---------------------------------------------------------------------------
# Roster (protocol.md §6)
# ---------------------------------------------------------------------------

ROSTER_HEADER = "rongxin-roster/v2\n"
ROSTER_HEADER_V1 = "rongxin-roster/v1\n"
MEMBER_ID_RE = re.compile(r"[a-z][a-z0-9-]{1,31}")
# protocol.md §1 says a zone id is "2–32 of a-z 0-9 -" and a federation is
# "lower-case letters, digits, '.', '-'"; the reference code also requires a
# leading letter for both and 2–64 characters for a federation. A verifier
# must agree with the signer on these, so the stricter reference forms are used.
ZONE_ID_RE = re.compile(r"[a-z][a-z0-9-]{1,31}")
FEDERATION_RE = re.compile(r"[a-z][a-z0-9.-]{1,63}")
PEER_ID_RE = re.compile(r"[1-9A-HJ-NP-Za-km-z]{10,128}")  # base58 alphabet
ROSTER_KEYS_V1 = {"federation", "version", "valid_from", "valid_until", "catalog_digest", "members"}
ROSTER_KEYS = ROSTER_KEYS_V1 | {"suite", "calendar_digest", "deadlines"}
DEADLINE_KEYS = {"objection_accept", "objection_verify", "repair_decide", "publication"}
MEMBER_KEYS_V1 = {"id", "name", "role", "jurisdictions", "signing_key", "peer_id", "listen", "http"}
MEMBER_KEYS = (MEMBER_KEYS_V1 - {"signing_key"}) | {"keys"}
KEY_KEYS = {"key", "from", "compromised"}
ROLES = ("district", "ftz", "city")


@dataclass(frozen=True)
class MemberKey:
    """One key of a member's history (protocol.md §6)."""

    key: bytes
    start: int | None       # `from`; None: a pending key (§6.1)
    compromised: bool = False


# Where each of a member's keys starts (protocol.md §6.1): the roster's `from`,
# or learned from a KeyHandover entry; None while a key is pending. One list
# per verification, indexed like Member.keys.
KeyStarts = list[int | None]


@dataclass
class Member:
    id: str
    name: str
    role: str
    jurisdictions: list[str]
    keys: list[MemberKey]   # the key history, oldest first
    peer_id: str

    def key_starts(self) -> KeyStarts:
        """The starts as far as the roster alone says."""
        return [k.start for k in self.keys]

    def key_index_at(self, position: int, starts: KeyStarts | None = None) -> int:
        """Index of the key that signs `position` (protocol.md §6.1): the last
        key whose start is known and at most `position`."""
        starts = self.key_starts() if starts is None else starts
        index = 0
        for i, s in enumerate(starts):
            if s is not None and s <= position:
                index = i
        return index

    def key_at(self, position: int, starts: KeyStarts | None = None) -> bytes:
        """The key that signs `position` of the member's log."""
        return self.keys[self.key_index_at(position, starts)].key

    def checkpoint_key_index(self, size: int, starts: KeyStarts | None = None) -> int:
        """A checkpoint of `size` entries is signed by the key of its last
        entry; the empty log's by the first key."""
        return self.key_index_at(max(size - 1, 0), starts)

    def checkpoint_key(self, size: int, starts: KeyStarts | None = None) -> bytes:
        return self.keys[self.checkpoint_key_index(size, starts)].key

    def key_number(self, key: bytes) -> int | None:
        """1-based number of `key` in the history (as messages count), or None."""
        for i, k in enumerate(self.keys):
            if k.key == key:
                return i + 1
        return None

    def learn_handover(self, starts: KeyStarts, position: int, key: bytes) -> int:
        """Take in the KeyHandover entry at `position` naming `key` (§6.1): it
        must name the key that follows the key of `position`, and when that
        key has a start already, the start must be `position + 1`. Fixes the
        start in `starts`; returns the index of the key handed over to.
        FormatError says what is wrong, counting keys from 1."""
        current = self.key_index_at(position, starts)
        nxt = current + 1
        named = self.key_number(key)
        if nxt >= len(self.keys):
            what = f"{self.id}'s key {named}" if named is not None else "a key not in the roster"
            raise FormatError(f"hands over to {what}, but {self.id} has no key after key {current + 1} "
                              f"(the key of position {position}) in the roster")
        if key != self.keys[nxt].key:
            if named is None:
                why = f"a key that is not {self.id}'s in the roster"
            elif named - 1 > nxt:
                why = (f"{self.id}'s key {named}, skipping key {nxt + 1} "
                       "(a handover names the key after the current one)")
            else:
                why = f"{self.id}'s key {named}, which is not the key after key {current + 1}"
            raise FormatError(f"hands over to {why}; the key of position {position} is key {current + 1}, "
                              f"so the handover must name key {nxt + 1}")
        s = starts[nxt]
        if s is not None and s != position + 1:
            raise FormatError(f"hands over to {self.id}'s key {nxt + 1} at position {position}, "
                              f"but the roster starts that key at {s} (from = {s}, not {position + 1})")
        starts[nxt] = position + 1
        return nxt

    def describe_signer(self, index: int, position: int, starts: KeyStarts) -> str:
        """Why key `index` may not sign `position` (it is not the key of
        `position`): "key N, which ..."."""
        k = self.keys[index]
        here = self.key_index_at(position, starts)
        nxt = starts[index + 1] if index + 1 < len(self.keys) else None
        if k.compromised and nxt is not None and position >= nxt:
            return f"key {index + 1}, which is marked compromised from position {nxt}"
        if starts[index] is None:
            return (f"key {index + 1}, which is pending: no KeyHandover entry given before position {position} "
                    "hands over to it")
        if index < here:
            return (f"key {index + 1}, which signs positions {starts[index]} to {nxt - 1} only "
                    f"(key {here + 1} signs position {position})")
        return f"key {index + 1}, which starts at position {starts[index]}"

    def name_wrong_signer(self, position: int, starts: KeyStarts,
                          verifies: Callable[[bytes], bool]) -> str | None:
        """On a signature that the key of `position` does not verify: "signed
        by key N, which ..." if another key of the member made it, else None.
        (Only on failure: each try is a signature verification.)"""
        here = self.key_index_at(position, starts)
        for i, k in enumerate(self.keys):
            if i != here and verifies(k.key):
                return "signed by " + self.describe_signer(i, position, starts)
        return None


@dataclass
class Roster:
    federation: str
    version: int
    valid_from: str
    valid_until: str
    catalog_digest: str
    members: list[Member]
    owners: dict[str, str] = field(default_factory=dict)
    suite: Suite = ED25519_SHA256

    def member(self, member_id: str) -> Member | None:
        for m in self.members:
            if m.id == member_id:
                return m
        return None

    def owner_of(self, jurisdiction: str) -> str | None:
        return self.owners.get(jurisdiction)


def _parse_day(s: Any, what: str) -> tuple[int, int, int]:
    # A TOML string "YYYY-MM-DD" as in the §6 example (not a TOML date value).
    if not isinstance(s, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", s):
        raise FormatError(f"roster {what} is not a \"YYYY-MM-DD\" string")
    y, m, d = int(s[:4]), int(s[5:7]), int(s[8:10])
    if not is_calendar_day(y, m, d):
        raise FormatError(f"roster {what} {s} is not a calendar day")
    return y, m, d


def parse_roster(note: str | bytes, root: Verifier) -> Roster:
    text = open_note(note, root)
    if text.startswith(ROSTER_HEADER):
        v1 = False
    elif text.startswith(ROSTER_HEADER_V1):
        v1 = True
    else:
        raise FormatError("roster text does not start with the line 'rongxin-roster/v2' (or 'rongxin-roster/v1')")
    try:
        doc = tomllib.loads(text[len(ROSTER_HEADER):])
    except tomllib.TOMLDecodeError as e:
        raise FormatError(f"roster TOML: {e}") from None

    def need(table: dict, key: str, typ: type, where: str) -> Any:
        if key not in table:
            raise FormatError(f"roster {where}: missing {key!r}")
        v = table[key]
        if typ is int and isinstance(v, bool) or not isinstance(v, typ):
            raise FormatError(f"roster {where}: {key!r} has the wrong type")
        return v

    # protocol.md §6 does not say which keys are required or whether unknown
    # keys are allowed; as the reference code does, all keys of the example
    # are required except a member's listen and http, and unknown keys are
    # refused.
    unknown = set(doc) - (ROSTER_KEYS_V1 if v1 else ROSTER_KEYS)
    if unknown:
        raise FormatError(f"roster: unknown key(s) {sorted(unknown)}")
    suite_name = "ed25519-sha256" if v1 else need(doc, "suite", str, "top level")
    if suite_name not in SUITES:
        raise FormatError(f"roster suite {suite_name!r} is neither ed25519-sha256 nor sm2-sm3")
    suite = SUITES[suite_name]
    # §6: "the root key is of the roster's suite".
    if root.suite != suite:
        raise FormatError(f"the roster's suite is {suite}, but the root key is of suite {root.suite}")
    fed = need(doc, "federation", str, "top level")
    if not FEDERATION_RE.fullmatch(fed):
        raise FormatError(f"roster federation {fed!r} is not lower-case letters, digits, '.', '-'")
    # protocol.md §1: the root key is named <federation>/root. (§6/§7 do not
    # say a verifier must check this; the reference code does not.)
    if root.name != f"{fed}/root":
        raise FormatError(f"roster federation {fed!r} does not match the root key name {root.name!r}")
    version = need(doc, "version", int, "top level")
    if version < 0:
        raise FormatError("roster version is negative")
    vf_raw = doc.get("valid_from")
    vu_raw = doc.get("valid_until")
    if vf_raw is None or vu_raw is None:
        raise FormatError("roster: missing valid_from or valid_until")
    vf = _parse_day(vf_raw, "valid_from")
    vu = _parse_day(vu_raw, "valid_until")
    if vf > vu:
        raise FormatError("roster valid_from is after valid_until")
    digest = need(doc, "catalog_digest", str, "top level")
    if not re.fullmatch(re.escape(suite.hash_name) + r":[0-9a-f]{64}", digest):
        raise FormatError(f"roster catalog_digest is not {suite.hash_name}:<64 lower-case hex> "
                          f"(H of the suite {suite})")
    # §6: the optional calendar_digest has the catalog_digest's form; the
    # optional deadlines table holds only the four keys, each 1–250.
    if "calendar_digest" in doc:
        cal = need(doc, "calendar_digest", str, "top level")
        if not re.fullmatch(re.escape(suite.hash_name) + r":[0-9a-f]{64}", cal):
            raise FormatError(f"roster calendar_digest is not {suite.hash_name}:<64 lower-case hex>")
    if "deadlines" in doc:
        dl = need(doc, "deadlines", dict, "top level")
        unknown = set(dl) - DEADLINE_KEYS
        if unknown:
            raise FormatError(f"roster deadlines: unknown key(s) {sorted(unknown)}")
        for key in sorted(dl):
            days = need(dl, key, int, "deadlines")
            if not 1 <= days <= 250:
                raise FormatError(f"roster deadlines.{key} = {days} is not 1 to 250 working days")
    raw_members = need(doc, "members", list, "top level")
    members: list[Member] = []
    for i, mt in enumerate(raw_members):
        where = f"members[{i}]"
        if not isinstance(mt, dict):
            raise FormatError(f"roster {where} is not a table")
        mid = need(mt, "id", str, where)
        if not MEMBER_ID_RE.fullmatch(mid) or mid == "root":
            raise FormatError(f"roster {where}: member id {mid!r} is not valid")
        where = f"member {mid!r}"
        unknown = set(mt) - (MEMBER_KEYS_V1 if v1 else MEMBER_KEYS)
        if unknown:
            raise FormatError(f"roster {where}: unknown key(s) {sorted(unknown)}")
        name = need(mt, "name", str, where)
        if name.strip() == "":
            raise FormatError(f"roster {where}: empty name")
        role = need(mt, "role", str, where)
        if role not in ROLES:
            raise FormatError(f"roster {where}: role {role!r} is not district, ftz or city")
        jur = need(mt, "jurisdictions", list, where)
        for j in jur:
            if not isinstance(j, str) or not (re.fullmatch(r"[0-9]{6}", j) or ZONE_ID_RE.fullmatch(j)):
                raise FormatError(f"roster {where}: jurisdiction {j!r} is not valid")
        if v1:
            raw_keys = [{"key": need(mt, "signing_key", str, where), "from": 0}]
        else:
            raw_keys = need(mt, "keys", list, where)
        if not raw_keys:
            raise FormatError(f"roster {where}: has no signing key")
        keys: list[MemberKey] = []
        for n, kt in enumerate(raw_keys, 1):
            kw = f"{where} key {n}"
            if not isinstance(kt, dict) or set(kt) - KEY_KEYS:
                raise FormatError(f"roster {kw}: not a table of key, from, compromised")
            key = b64decode_strict(need(kt, "key", str, kw), f"{kw}")
            problem = suite.key_problem(key)
            if problem:
                raise FormatError(f"roster {kw}: not a key of suite {suite}: {problem}")
            # §6.1 (newer than the rule list of §6 it refines): a key may lack
            # `from` (a pending key, started by a KeyHandover entry), but the
            # first key's is 0 and only a suffix of the history may lack it.
            start: int | None = None
            if "from" in kt:
                start = need(kt, "from", int, kw)
                if not 0 <= start < 2**64:
                    raise FormatError(f"roster {kw}: from is not a u64")
                if keys and keys[-1].start is None:
                    raise FormatError(f"roster {kw}: has a from, but key {n - 1} before it is pending "
                                      "(only the newest keys may lack from)")
                if keys and start <= keys[-1].start:
                    raise FormatError(f"roster {kw}: from {start} is not after key {n - 1}'s {keys[-1].start}")
            if n == 1 and start != 0:
                raise FormatError(f"roster {kw}: the first key must sign from position 0 (from = 0)")
            if "compromised" in kt and not isinstance(kt["compromised"], bool):
                raise FormatError(f"roster {kw}: compromised is not a boolean")
            keys.append(MemberKey(key, start, kt.get("compromised") is True))
        for n, (k, after) in enumerate(zip(keys, keys[1:]), 1):
            # §6.1: a compromised key signs nothing from the next key's start,
            # "which the root sets with from (a compromise never waits for a
            # handover)".
            if k.compromised and after.start is None:
                raise FormatError(f"roster {where} key {n}: is marked compromised, so the key after it "
                                  "needs a from (a compromise never waits for a handover)")
        if keys[-1].compromised:
            raise FormatError(f"roster {where}: its newest key is marked compromised")
        peer_id = need(mt, "peer_id", str, where)
        # Not in protocol.md: the reference code's shape checks of peer_id and
        # listen (the peer id is not checked against a transport key).
        if not PEER_ID_RE.fullmatch(peer_id):
            raise FormatError(f"roster {where}: peer_id {peer_id!r} is not a base58 peer id")
        listen = mt.get("listen", [])
        if not isinstance(listen, list) or not all(isinstance(a, str) and a.startswith("/") for a in listen):
            raise FormatError(f"roster {where}: listen is not a list of multiaddrs")
        if "http" in mt and not isinstance(mt["http"], str):
            raise FormatError(f"roster {where}: http is not a string")
        members.append(Member(mid, name, role, list(jur), keys, peer_id))
    if sum(1 for m in members if m.role == "city") != 1:
        raise FormatError("roster does not have exactly one city member")
    for attr, label in (("id", "member id"), ("peer_id", "peer id")):
        seen: set = set()
        for m in members:
            v = getattr(m, attr)
            if v in seen:
                raise FormatError(f"roster: duplicate {label} ({m.id})")
            seen.add(v)
    seen_keys: set = set()
    for m in members:
        for k in (mk.key for mk in m.keys):
            if k in seen_keys:
                raise FormatError(f"roster: duplicate signing key ({m.id})")
            seen_keys.add(k)
    owners: dict[str, str] = {}
    for m in members:
        for j in m.jurisdictions:
            if j in owners:
                raise FormatError(f"roster: jurisdiction {j} owned by both {owners[j]} and {m.id}")
            owners[j] = m.id
    return Roster(fed, version, "%04d-%02d-%02d" % vf, "%04d-%02d-%02d" % vu,
                  digest, members, owners, suite)


# ---------------------------------------------------------------------------
# bincode 2, big-endian, fixed-width integers (protocol.md §3.1)
# ---------------------------------------------------------------------------

class Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise FormatError(f"bincode: unexpected end of data at byte {self.pos} (need {n})")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def u8(self) -> int:
        return self.uint(1)

    def u16(self) -> int:
        return self.uint(2)

    def u32(self) -> int:
        return self.uint(4)

    def u64(self) -> int:
        return self.uint(8)

    def i64(self) -> int:
        return int.from_bytes(self.take(8), "big", signed=True)

    def bool(self) -> bool:
        b = self.u8()
        if b > 1:
            raise FormatError(f"bincode: bool byte {b:#04x} at {self.pos - 1}")
        return b == 1

    def length(self) -> int:
        n = self.u64()
        if n > len(self.data) - self.pos:
            raise FormatError(f"bincode: length {n} at byte {self.pos - 8} exceeds the remaining data")
        return n

    def bytes_(self) -> bytes:
        return self.take(self.length())

    def string(self) -> str:
        start = self.pos
        raw = self.bytes_()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError(f"bincode: string at byte {start} is not UTF-8") from None

    def variant(self, names: tuple[str, ...], what: str) -> str:
        i = self.u32()
        if i >= len(names):
            raise FormatError(f"bincode: {what} variant index {i} is out of range")
        return names[i]

    def option(self) -> bool:
        t = self.u8()
        if t > 1:
            raise FormatError(f"bincode: Option tag {t:#04x} at {self.pos - 1}")
        return t == 1

    def end(self) -> None:
        if self.pos != len(self.data):
            raise FormatError(f"bincode: {len(self.data) - self.pos} trailing bytes after the value")


class Writer:
    def __init__(self) -> None:
        self.out = bytearray()

    def uint(self, v: int, n: int) -> None:
        self.out += v.to_bytes(n, "big")

    def i64(self, v: int) -> None:
        self.out += v.to_bytes(8, "big", signed=True)

    def bool(self, v: bool) -> None:
        self.out.append(1 if v else 0)

    def bytes_(self, b: bytes) -> None:
        self.uint(len(b), 8)
        self.out += b

    def string(self, s: str) -> None:
        self.bytes_(s.encode("utf-8"))

    def variant(self, names: tuple[str, ...], name: str) -> None:
        self.uint(names.index(name), 4)


# ---------------------------------------------------------------------------
# Entries (protocol.md §3)
# ---------------------------------------------------------------------------

ENTRY_TAG_PREFIX = b"rongxin/entry\n"
# The tag's last byte names the suite (§3.1): 0x01 ed25519-sha256, 0x02 sm2-sm3.
ENTRY_TAG = ENTRY_TAG_PREFIX + bytes([ED25519_SHA256.entry_version])
# §3.1: 65,535 bytes, what a tlog-tiles entry bundle's 16-bit length prefix states.
MAX_ENTRY_BYTES = 65_535
TIME_MS_2000 = 946_684_800_000


def entry_tag(suite: Suite) -> bytes:
    return ENTRY_TAG_PREFIX + bytes([suite.entry_version])


OPS = ("Put", "Revoke", "ObjectionFiled", "ObjectionResolved", "KeyHandover",
       "RepairFiled", "RepairDecided")
REVOKE_REASONS = ("Repair", "ObjectionUpheld", "Error", "Expired")
OBJECTION_GROUNDS = ("Wrong", "Incomplete", "Duplicate", "ShouldNotBePublic",
                     "PastPublicityPeriod", "DiffersFromDecision", "ExposesSecret", "Other")
OBJECTION_OUTCOMES = ("Upheld", "Rejected")
REPAIR_OUTCOMES = ("Granted", "Rejected")
SUBJECT_CLASSES = ("LegalPerson", "NaturalPerson", "IndividualBusiness")
FIELD_VALUES = ("Text", "Integer", "Decimal", "Date", "Bool")
DECIMAL_RE = re.compile(r"-?(0|[1-9][0-9]{0,17})(\.[0-9]{0,5}[1-9])?")
# Not in protocol.md, taken from the reference code (rongxin-protocol
# entry.rs / value.rs), which refuses such entries when decoding:
MAX_OP_TEXT_CHARS = 2000        # Revoke/Objection texts: non-blank, at most 2000 chars
MAX_DECIMAL_INTEGER_DIGITS = 18  # Decimal: at most 18 integer digits



def is_calendar_day(y: int, m: int, d: int) -> bool:
    """A real Gregorian day with year 1..9999 (the year range is the
    reference code's; protocol.md only says "a real calendar day")."""
    return 1 <= y <= 9999 and 1 <= m <= 12 and 1 <= d <= calendar.monthrange(y, m)[1]


def _read_date(r: Reader) -> tuple[int, int, int]:
    y, m, d = r.u16(), r.u8(), r.u8()
    if not is_calendar_day(y, m, d):
        raise FormatError(f"date {y:04d}-{m:02d}-{d:02d} is not a calendar day")
    return (y, m, d)


def _write_date(w: Writer, d: tuple[int, int, int]) -> None:
    w.uint(d[0], 2)
    w.uint(d[1], 1)
    w.uint(d[2], 1)


def _read_record_key(r: Reader) -> dict:
    return {"kind": r.string(), "jurisdiction": r.string(),
            "authority_code": r.string(), "record_no": r.string()}


def _write_record_key(w: Writer, k: dict) -> None:
    for f in ("kind", "jurisdiction", "authority_code", "record_no"):
        w.string(k[f])


def _read_field_value(r: Reader) -> tuple[str, Any]:
    v = r.variant(FIELD_VALUES, "FieldValue")
    if v == "Text":
        return v, r.string()
    if v == "Integer":
        return v, r.i64()
    if v == "Decimal":
        s = r.string()
        if not DECIMAL_RE.fullmatch(s) or s == "-0":
            raise FormatError(f"decimal {s!r} is not in canonical form")
        return v, s
    if v == "Date":
        return v, _read_date(r)
    return v, r.bool()


def _write_field_value(w: Writer, fv: tuple[str, Any]) -> None:
    v, x = fv
    w.variant(FIELD_VALUES, v)
    if v in ("Text", "Decimal"):
        w.string(x)
    elif v == "Integer":
        w.i64(x)
    elif v == "Date":
        _write_date(w, x)
    else:
        w.bool(x)


def _read_record(r: Reader) -> dict:
    rec: dict[str, Any] = {"kind": r.string(), "jurisdiction": r.string(), "record_no": r.string()}
    cls = r.variant(SUBJECT_CLASSES, "SubjectClass")
    rec["subject"] = {"class": cls, "code": r.string(), "name": r.string()}
    rec["authority"] = {"name": r.string(), "code": r.string()}
    rec["decision_date"] = _read_date(r)
    n = r.length()
    fields: dict[str, tuple[str, Any]] = {}
    prev: bytes | None = None
    for _ in range(n):
        k = r.string()
        kb = k.encode("utf-8")
        if prev is not None and kb <= prev:
            raise FormatError(f"field map keys out of order or repeated at {k!r}")
        prev = kb
        fields[k] = _read_field_value(r)
    rec["fields"] = fields
    return rec


def _write_record(w: Writer, rec: dict) -> None:
    w.string(rec["kind"])
    w.string(rec["jurisdiction"])
    w.string(rec["record_no"])
    w.variant(SUBJECT_CLASSES, rec["subject"]["class"])
    w.string(rec["subject"]["code"])
    w.string(rec["subject"]["name"])
    w.string(rec["authority"]["name"])
    w.string(rec["authority"]["code"])
    _write_date(w, rec["decision_date"])
    keys = sorted(rec["fields"], key=lambda k: k.encode("utf-8"))
    w.uint(len(keys), 8)
    for k in keys:
        w.string(k)
        _write_field_value(w, rec["fields"][k])


def _read_op(r: Reader) -> dict:
    op = r.variant(OPS, "Op")
    if op == "Put":
        return {"op": op, "record": _read_record(r)}
    if op == "Revoke":
        return {"op": op, "key": _read_record_key(r),
                "reason": r.variant(REVOKE_REASONS, "RevokeReason"), "basis": r.string()}
    if op == "ObjectionFiled":
        return {"op": op, "id": r.string(), "key": _read_record_key(r),
                "ground": r.variant(OBJECTION_GROUNDS, "ObjectionGround"),
                "statement": r.string(), "received_by": r.string(),
                "received_on": _read_date(r), "due": _read_date(r)}
    if op == "ObjectionResolved":
        return {"op": op, "id": r.string(), "key": _read_record_key(r),
                "outcome": r.variant(OBJECTION_OUTCOMES, "ObjectionOutcome"),
                "explanation": r.string()}
    if op == "RepairFiled":
        return {"op": op, "id": r.string(), "key": _read_record_key(r),
                "statement": r.string(), "commitment": r.string(),
                "received_by": r.string(), "received_on": _read_date(r), "due": _read_date(r)}
    if op == "RepairDecided":
        return {"op": op, "id": r.string(), "key": _read_record_key(r),
                "outcome": r.variant(REPAIR_OUTCOMES, "RepairOutcome"),
                "explanation": r.string()}
    # 4 KeyHandover { key: byte string }: the origin's next public key (§3.2, §6.1).
    return {"op": op, "key": r.bytes_()}


def _write_op(w: Writer, op: dict) -> None:
    w.variant(OPS, op["op"])
    if op["op"] == "Put":
        _write_record(w, op["record"])
    elif op["op"] == "Revoke":
        _write_record_key(w, op["key"])
        w.variant(REVOKE_REASONS, op["reason"])
        w.string(op["basis"])
    elif op["op"] == "ObjectionFiled":
        w.string(op["id"])
        _write_record_key(w, op["key"])
        w.variant(OBJECTION_GROUNDS, op["ground"])
        w.string(op["statement"])
        w.string(op["received_by"])
        _write_date(w, op["received_on"])
        _write_date(w, op["due"])
    elif op["op"] == "ObjectionResolved":
        w.string(op["id"])
        _write_record_key(w, op["key"])
        w.variant(OBJECTION_OUTCOMES, op["outcome"])
        w.string(op["explanation"])
    elif op["op"] == "RepairFiled":
        w.string(op["id"])
        _write_record_key(w, op["key"])
        w.string(op["statement"])
        w.string(op["commitment"])
        w.string(op["received_by"])
        _write_date(w, op["received_on"])
        _write_date(w, op["due"])
    elif op["op"] == "RepairDecided":
        w.string(op["id"])
        _write_record_key(w, op["key"])
        w.variant(REPAIR_OUTCOMES, op["outcome"])
        w.string(op["explanation"])
    else:
        w.bytes_(op["key"])


@dataclass
class Entry:
    origin: str
    seq: int
    prev_hash: bytes
    time_ms: int
    op: dict
    suite: Suite = ED25519_SHA256  # the suite its tag names

    def record_key(self) -> dict | None:
        """The key of the record the entry concerns; None for a KeyHandover."""
        if self.op["op"] == "Put":
            rec = self.op["record"]
            return {"kind": rec["kind"], "jurisdiction": rec["jurisdiction"],
                    "authority_code": rec["authority"]["code"], "record_no": rec["record_no"]}
        if self.op["op"] == "KeyHandover":
            return None
        return self.op["key"]

    def record_key_text(self) -> str:
        k = self.record_key()
        if k is None:
            return "-"
        return f"{k['kind']}/{k['jurisdiction']}/{k['authority_code']}/{k['record_no']}"

    def summary(self) -> str:
        """`op=... key=...` (or `handover_to=<base64 key>`), for OK lines."""
        if self.op["op"] == "KeyHandover":
            return f"op=KeyHandover handover_to={b64(self.op['key'])}"
        return f"op={self.op['op']} key={self.record_key_text()}"


def encode_entry(e: Entry, suite: Suite | None = None) -> bytes:
    """Entry bytes: the tag of `suite` (default: the entry's) || bincode(Entry)."""
    w = Writer()
    w.string(e.origin)
    w.uint(e.seq, 8)
    w.out += e.prev_hash
    w.i64(e.time_ms)
    _write_op(w, e.op)
    return entry_tag(e.suite if suite is None else suite) + bytes(w.out)


def decode_entry(data: bytes, suite: Suite | None = ED25519_SHA256) -> Entry:
    """Decode entry bytes (tag || bincode(Entry)) and insist they are canonical.

    `suite` is the federation's (the roster's): an entry whose tag names
    another suite is refused. The default is ed25519-sha256; None accepts
    either suite's tag (for tools that only show what they hold)."""
    if len(data) > MAX_ENTRY_BYTES:
        raise FormatError(f"entry is {len(data)} bytes, more than {MAX_ENTRY_BYTES}")
    tagged = next((t for t in SUITES.values() if data.startswith(entry_tag(t))), None)
    if tagged is None:
        if data.startswith(ENTRY_TAG_PREFIX) and len(data) > len(ENTRY_TAG_PREFIX):
            raise FormatError(f"entry tag version byte {data[len(ENTRY_TAG_PREFIX)]:#04x} names no suite "
                              "(0x01 ed25519-sha256, 0x02 sm2-sm3)")
        raise FormatError("entry bytes do not start with the tag 'rongxin/entry\\n' and a suite byte")
    if suite is not None and tagged != suite:
        raise FormatError(f"entry tag names suite {tagged} (version byte {tagged.entry_version:#04x}), "
                          f"not the federation's {suite} ({suite.entry_version:#04x})")
    tag = entry_tag(tagged)
    r = Reader(data[len(tag):])
    e = Entry(origin=r.string(), seq=r.u64(), prev_hash=r.take(32), time_ms=r.i64(), op=_read_op(r),
              suite=tagged)
    r.end()  # "decode canonically": no bytes may follow the Entry
    if encode_entry(e) != data:
        raise FormatError("entry bytes are not the canonical encoding")
    # Checks at decoding that protocol.md states only as field comments (origin
    # is a member id, time_ms after 2000-01-01, zero prev_hash for seq 0) or
    # not at all (op texts); as in the reference code, 2000-01-01T00:00:00.000
    # itself is accepted.
    if not MEMBER_ID_RE.fullmatch(e.origin) or e.origin == "root":
        raise FormatError(f"origin {e.origin!r} is not a member id")
    if e.time_ms < TIME_MS_2000:
        raise FormatError(f"time_ms {e.time_ms} is before 2000-01-01")
    if e.seq == 0 and e.prev_hash != bytes(32):
        raise FormatError("entry 0 has a prev_hash that is not 32 zero bytes")
    texts = {"Put": (), "Revoke": ("basis",), "ObjectionFiled": ("id", "statement", "received_by"),
             "ObjectionResolved": ("id", "explanation"), "KeyHandover": (),
             "RepairFiled": ("id", "statement", "commitment", "received_by"),
             "RepairDecided": ("id", "explanation")}[e.op["op"]]
    for t in texts:
        v = e.op[t]
        if v.strip() == "" or len(v) > MAX_OP_TEXT_CHARS:
            raise FormatError(f"op text {t!r} is blank or longer than {MAX_OP_TEXT_CHARS} characters")
    if e.op["op"] == "KeyHandover":
        # §3.2: "public key bytes of the suite"; the reference code refuses
        # any other key when decoding, whatever the roster says.
        problem = tagged.key_problem(e.op["key"])
        if problem:
            raise FormatError(f"the handover's key is not a key of suite {tagged}: {problem}")
    return e


# ---------------------------------------------------------------------------
# RFC 6962 Merkle tree (protocol.md §4)
# ---------------------------------------------------------------------------

def leaf_hash(data: bytes, suite: Suite = ED25519_SHA256) -> bytes:
    return suite.hash(b"\x00" + data)


def node_hash(left: bytes, right: bytes, suite: Suite = ED25519_SHA256) -> bytes:
    return suite.hash(b"\x01" + left + right)


def merkle_root_from_leaf_hashes(hashes: list[bytes], suite: Suite = ED25519_SHA256) -> bytes:
    """MTH per RFC 6962 §2.1 (k = largest power of two < n), computed bottom-up,
    with H of `suite`."""
    if not hashes:
        return suite.hash(b"")
    level = list(hashes)
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1], suite) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2 == 1:
            nxt.append(level[-1])  # an unpaired right-most node moves up unchanged
        level = nxt
    return level[0]


def merkle_root(leaves: list[bytes], suite: Suite = ED25519_SHA256) -> bytes:
    return merkle_root_from_leaf_hashes([leaf_hash(x, suite) for x in leaves], suite)


def verify_inclusion(leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes,
                     suite: Suite = ED25519_SHA256) -> bool:
    """RFC 9162 §2.1.3.2, given the leaf hash."""
    if index < 0 or index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if len(p) != 32 or sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r, suite)
            if not fn & 1:
                while fn != 0 and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p, suite)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


# ---------------------------------------------------------------------------
# Bundle (protocol.md §7)
# ---------------------------------------------------------------------------

STEPS = {
    1: "step 1 (format)",
    2: "step 2 (roster)",
    3: "step 3 (origin key)",
    4: "step 4 (entry signature and decoding)",
    5: "step 5 (origin and seq)",
    6: "step 6 (ownership)",
    7: "step 7 (checkpoint)",
    8: "step 8 (inclusion proof)",
}


BUNDLE_FIELDS = {"format", "origin", "leaf_index", "entry", "entry_signature", "origin_public_key",
                 "inclusion_proof", "checkpoint", "roster", "suite", "handovers"}
HANDOVER_FIELDS = {"leaf_index", "entry", "entry_signature", "inclusion_proof"}


def _checkpoint_unverified(note: str) -> Checkpoint:
    """The checkpoint's lines before its signature is checked: its size says
    which key must have signed it (§6.1)."""
    return parse_checkpoint_text(note.split("\n\n")[0] + "\n")


def _is_u64(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**64


def _signature_failure(member: Member, starts: KeyStarts, position: int, suite: Suite,
                       data: bytes, sig: bytes) -> str:
    """Why an entry signature at `position` is refused, naming the key of
    the position and, if another of the member's keys made the signature,
    that key and why it may not sign there (compromised, pending, ...)."""
    index = member.key_index_at(position, starts)
    why = f"signature does not verify with {member.id}'s key {index + 1}, the key of position {position}"
    if len(sig) == 64:
        other = member.name_wrong_signer(position, starts, lambda k: suite.verify(k, data, sig))
        if other:
            why += f": {other}"
    return why


def _open_member_checkpoint(note: str, roster: Roster, member: Member, starts: KeyStarts) -> Checkpoint:
    """Open a checkpoint of `member` with the key of its last position under
    `starts`; FormatError names another key of the member that signed it."""
    name = f"{roster.federation}/{member.id}"
    size = _checkpoint_unverified(note).size
    index = member.checkpoint_key_index(size, starts)
    try:
        return open_checkpoint(note, Verifier.from_public_key(name, member.keys[index].key, roster.suite))
    except FormatError as e:
        position = max(size - 1, 0)

        def verifies(key: bytes) -> bool:
            try:
                open_checkpoint(note, Verifier.from_public_key(name, key, roster.suite))
                return True
            except FormatError:
                return False

        other = member.name_wrong_signer(position, starts, verifies)
        why = f"{e} (a checkpoint of size {size} is signed by key {index + 1}, the key of position {position})"
        raise FormatError(f"{why}: {other}" if other else why) from None


def _parse_handovers(v: Any) -> list[dict]:
    if not isinstance(v, list):
        raise FormatError("field 'handovers' is not a JSON array")
    for i, h in enumerate(v):
        if not isinstance(h, dict) or set(h) != HANDOVER_FIELDS:
            raise FormatError(f"handovers[{i}] is not an object of exactly {sorted(HANDOVER_FIELDS)}")
        if not _is_u64(h["leaf_index"]):
            raise FormatError(f"handovers[{i}].leaf_index is not a u64")
        for k, t in (("entry", str), ("entry_signature", str), ("inclusion_proof", list)):
            if not isinstance(h[k], t):
                raise FormatError(f"handovers[{i}].{k} is not a JSON {t.__name__}")
    return v


def verify_bundle(bundle: Any, root: Verifier) -> str:
    def fail(n: int, why: str) -> VerifyError:
        return VerifyError(STEPS[n], why)

    if not isinstance(bundle, dict):
        raise fail(1, "bundle is not a JSON object")
    fmt = bundle.get("format")
    if fmt == "rongxin-bundle/2":
        if not isinstance(bundle.get("suite"), str):
            raise fail(1, "a rongxin-bundle/2 bundle names its suite")
        suite_name = bundle["suite"]
    elif fmt == "rongxin-bundle/1":
        if "suite" in bundle:
            raise fail(1, "a rongxin-bundle/1 bundle has no suite field")
        suite_name = "ed25519-sha256"
    else:
        raise fail(1, f"format is {fmt!r}, not 'rongxin-bundle/2' (or 'rongxin-bundle/1')")
    if suite_name not in SUITES:
        raise fail(1, f"suite {suite_name!r} is neither ed25519-sha256 nor sm2-sm3")
    suite = SUITES[suite_name]
    for k, t in (("origin", str), ("leaf_index", int), ("entry", str), ("entry_signature", str),
                 ("origin_public_key", str), ("inclusion_proof", list), ("checkpoint", str),
                 ("roster", str)):
        v = bundle.get(k)
        if not isinstance(v, t) or (t is int and isinstance(v, bool)):
            raise fail(1, f"field {k!r} is missing or not a JSON {t.__name__}")
    unknown = set(bundle) - BUNDLE_FIELDS
    if unknown:
        # protocol.md §7 lists the fields but does not say whether others are
        # allowed; the reference verifier refuses them, and so does this one.
        raise fail(1, f"unknown field(s) {sorted(unknown)}")
    origin = bundle["origin"]
    leaf_index = bundle["leaf_index"]
    if not 0 <= leaf_index < 2**64:
        raise fail(1, "leaf_index is not a u64")
    # Optional, "omitted when empty" (§7); an empty array is read as none.
    # protocol.md lists `handovers` under rongxin-bundle/2 only; like the
    # reference verifier, this one reads it in either format.
    try:
        handovers = _parse_handovers(bundle.get("handovers", []))
    except FormatError as e:
        raise fail(1, str(e)) from None

    try:
        roster = parse_roster(bundle["roster"], root)
    except FormatError as e:
        raise fail(2, str(e)) from None
    if roster.suite != suite:
        raise fail(2, f"the bundle says suite {suite}, its roster's suite is {roster.suite}")

    member = roster.member(origin)
    if member is None:
        raise fail(3, f"roster {roster.version} has no member {origin!r}")
    # The handovers fix the starts of pending keys (§6.1, §7), in order: each
    # is signed by the key of its position as known so far. Their inclusion
    # in the checkpoint's tree is checked at step 8.
    for i in range(1, len(handovers)):
        if handovers[i]["leaf_index"] <= handovers[i - 1]["leaf_index"]:
            raise fail(3, f"handovers[{i}] (position {handovers[i]['leaf_index']}): handovers must be in "
                          f"increasing order of position, and the one before is at {handovers[i - 1]['leaf_index']}")
    starts = member.key_starts()
    handover_leaves: list[tuple[str, int, bytes, list]] = []
    for i, h in enumerate(handovers):
        pos = h["leaf_index"]
        where = f"handovers[{i}] (position {pos})"
        try:
            data = b64decode_strict(h["entry"], f"{where} entry")
            sig = b64decode_strict(h["entry_signature"], f"{where} entry_signature")
        except FormatError as e:
            raise fail(3, str(e)) from None
        if not suite.verify(member.key_at(pos, starts), data, sig):
            raise fail(3, f"{where}: {_signature_failure(member, starts, pos, suite, data, sig)}")
        try:
            e = decode_entry(data, suite)
        except FormatError as ex:
            raise fail(3, f"{where}: entry does not decode: {ex}") from None
        if e.origin != origin or e.seq != pos:
            raise fail(3, f"{where}: the entry is {e.origin!r}'s seq {e.seq}, not {origin!r}'s {pos}")
        if e.op["op"] != "KeyHandover":
            raise fail(3, f"{where}: the entry is a {e.op['op']}, not a KeyHandover")
        try:
            member.learn_handover(starts, pos, e.op["key"])
        except FormatError as ex:
            raise fail(3, f"{where}: {ex}") from None
        handover_leaves.append((where, pos, data, h["inclusion_proof"]))

    try:
        pub = b64decode_strict(bundle["origin_public_key"], "origin_public_key")
    except FormatError as e:
        raise fail(3, str(e)) from None
    index = member.key_index_at(leaf_index, starts)
    if pub != member.keys[index].key:
        why = (f"origin_public_key is not the signing key the roster lists for {origin!r} at position "
               f"{leaf_index} (key {index + 1}")
        n = member.key_number(pub)
        if n is not None:
            why += f"; it is {member.describe_signer(n - 1, leaf_index, starts)}"
        raise fail(3, why + ")")

    try:
        entry_bytes = b64decode_strict(bundle["entry"], "entry")
        sig = b64decode_strict(bundle["entry_signature"], "entry_signature")
    except FormatError as e:
        raise fail(4, str(e)) from None
    if len(sig) != 64:
        raise fail(4, f"entry_signature is {len(sig)} bytes, not 64")
    if not suite.verify(pub, entry_bytes, sig):
        raise fail(4, _signature_failure(member, starts, leaf_index, suite, entry_bytes, sig))
    try:
        entry = decode_entry(entry_bytes, suite)
    except FormatError as e:
        raise fail(4, f"entry does not decode: {e}") from None

    if entry.origin != origin:
        raise fail(5, f"entry origin is {entry.origin!r}, bundle says {origin!r}")
    if entry.seq != leaf_index:
        raise fail(5, f"entry seq is {entry.seq}, bundle leaf_index is {leaf_index}")

    rk = entry.record_key()
    if rk is not None:  # a KeyHandover concerns no record and no jurisdiction
        owner = roster.owner_of(rk["jurisdiction"])
        if owner != origin:
            raise fail(6, f"jurisdiction {rk['jurisdiction']!r} is owned by {owner or 'no member'}, "
                          f"not {origin!r}")

    try:
        # The key that signs a checkpoint is the key of its last entry (§6.1),
        # with the starts the handovers fixed.
        cp = _open_member_checkpoint(bundle["checkpoint"], roster, member, starts)
    except FormatError as e:
        raise fail(7, str(e)) from None

    for where, pos, data, proof_b64 in handover_leaves:
        try:
            hproof = [b64decode_strict(x, f"{where} inclusion_proof[{j}]") for j, x in enumerate(proof_b64)]
        except FormatError as e:
            raise fail(8, str(e)) from None
        if pos >= cp.size:
            raise fail(8, f"{where}: position {pos} is not below the checkpoint size {cp.size}")
        if not verify_inclusion(leaf_hash(data, suite), pos, cp.size, hproof, cp.root, suite):
            raise fail(8, f"{where}: inclusion proof does not lead to the checkpoint root for size {cp.size}")
    try:
        proof = [b64decode_strict(h, f"inclusion_proof[{i}]") for i, h in enumerate(bundle["inclusion_proof"])]
    except FormatError as e:
        raise fail(8, str(e)) from None
    if leaf_index >= cp.size:
        raise fail(8, f"leaf_index {leaf_index} is not below the checkpoint size {cp.size}")
    if not verify_inclusion(leaf_hash(entry_bytes, suite), leaf_index, cp.size, proof, cp.root, suite):
        raise fail(8, f"inclusion proof does not lead to the checkpoint root for size {cp.size}")

    return (f"OK origin={origin} seq={entry.seq} {entry.summary()} checkpoint_size={cp.size} "
            f"roster_version={roster.version} suite={suite}")


# ---------------------------------------------------------------------------
# Whole log
# ---------------------------------------------------------------------------

def _json_values(text: str) -> list[Any]:
    """All JSON values in `text` (one document, or several concatenated)."""
    dec = json.JSONDecoder()
    out, i = [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return out
        v, i = dec.raw_decode(text, i)
        out.append(v)


def load_entries(text: str) -> tuple[list[dict], str | None]:
    """Entries from concatenated `GET /v1/logs/{origin}/entries` pages.

    Accepts page objects {"origin", "from", "entries": [...]}, bare arrays of
    {seq, entry, signature}, arrays of pages, or several such documents one
    after another. Returns the entries and the pages' origin (if stated)."""
    entries: list[dict] = []
    origins: set[str] = set()

    def take(v: Any) -> None:
        if isinstance(v, list):
            for x in v:
                take(x)
        elif isinstance(v, dict) and "entries" in v:
            if "origin" in v:
                origins.add(v["origin"])
            if not isinstance(v["entries"], list):
                raise FormatError("a page's 'entries' is not an array")
            first = len(entries)
            for x in v["entries"]:
                take(x)
            if "from" in v and v["entries"] and entries[first].get("seq") != v["from"]:
                raise FormatError(f"a page says from={v['from']} but starts at seq {entries[first].get('seq')}")
        elif isinstance(v, dict) and "entry" in v:
            entries.append(v)
        else:
            raise FormatError("entries JSON holds something that is neither a page nor an entry")

    try:
        values = _json_values(text)
    except json.JSONDecodeError as e:
        raise FormatError(f"entries JSON: {e}") from None
    for v in values:
        take(v)
    if len(origins) > 1:
        raise FormatError(f"entries pages name several origins: {sorted(origins)}")
    return entries, (origins.pop() if origins else None)


def verify_log(entries_text: str, checkpoint_note: str, roster_note: str, root: Verifier,
               allow_extra: bool = False) -> str:
    try:
        roster = parse_roster(roster_note, root)
    except FormatError as e:
        raise VerifyError("roster", str(e)) from None
    suite = roster.suite

    # The checkpoint's origin line names the log: <federation>/<member id>.
    # Its signature is checked after the entries: with pending keys, the
    # KeyHandover entries say which key signs its last position (§6.1).
    try:
        unverified = _checkpoint_unverified(checkpoint_note)
    except FormatError as e:
        raise VerifyError("checkpoint", str(e)) from None
    origin_line = unverified.origin
    prefix = roster.federation + "/"
    if not origin_line.startswith(prefix):
        raise VerifyError("checkpoint", f"origin {origin_line!r} is not in federation {roster.federation!r}")
    origin = origin_line[len(prefix):]
    member = roster.member(origin)
    if member is None:
        raise VerifyError("checkpoint", f"roster {roster.version} has no member {origin!r}")

    try:
        items, page_origin = load_entries(entries_text)
    except FormatError as e:
        raise VerifyError("entries", str(e)) from None
    if page_origin is not None and page_origin != origin:
        raise VerifyError("entries", f"pages are of origin {page_origin!r}, checkpoint is of {origin!r}")

    starts = member.key_starts()
    leaves: list[bytes] = []
    handovers: list[str] = []
    prev = bytes(32)
    for n, it in enumerate(items):
        where = f"entry {n}"
        if not isinstance(it, dict):
            raise VerifyError(where, "not a JSON object")
        if it.get("seq") != n or isinstance(it.get("seq"), bool):
            raise VerifyError(where, f"listed seq is {it.get('seq')!r}, expected {n} (not contiguous from 0)")
        try:
            data = b64decode_strict(it.get("entry"), "entry")
            sig = b64decode_strict(it.get("signature"), "signature")
        except FormatError as e:
            raise VerifyError(where, str(e)) from None
        # Each position with its key (§6.1), as the handovers so far say.
        if not suite.verify(member.key_at(n, starts), data, sig):
            raise VerifyError(where, _signature_failure(member, starts, n, suite, data, sig))
        try:
            e = decode_entry(data, suite)
        except FormatError as ex:
            raise VerifyError(where, f"does not decode: {ex}") from None
        if e.origin != origin:
            raise VerifyError(where, f"origin is {e.origin!r}, not {origin!r}")
        if e.seq != n:
            raise VerifyError(where, f"seq inside the entry is {e.seq}, expected {n}")
        if e.prev_hash != prev:
            raise VerifyError(where, "prev_hash is not the leaf hash of the previous entry"
                              if n else "prev_hash of entry 0 is not 32 zero bytes")
        if e.op["op"] == "KeyHandover":
            try:
                k = member.learn_handover(starts, n, e.op["key"])
            except FormatError as ex:
                raise VerifyError(where, f"KeyHandover {ex}") from None
            handovers.append(f"key {k + 1} from {n + 1}")
        else:
            jur = e.record_key()["jurisdiction"]
            owner = roster.owner_of(jur)
            if owner != origin:
                raise VerifyError(where, f"jurisdiction {jur!r} is owned by {owner or 'no member'}, not {origin!r}")
        lh = leaf_hash(data, suite)
        leaves.append(lh)
        prev = lh

    try:
        cp = _open_member_checkpoint(checkpoint_note, roster, member, starts)
    except FormatError as e:
        why = str(e)
        if len(leaves) < unverified.size and any(s is None for s in starts):
            why += (f" (the log given holds {len(leaves)} entries, fewer than the checkpoint's "
                    f"{unverified.size}: a KeyHandover among the missing ones may start the key that signs it)")
        raise VerifyError("checkpoint", why) from None

    if len(leaves) < cp.size:
        raise VerifyError("merkle root", f"{len(leaves)} entries, fewer than the checkpoint size {cp.size}")
    if len(leaves) > cp.size and not allow_extra:
        raise VerifyError("merkle root", f"{len(leaves)} entries, more than the checkpoint size {cp.size} "
                          "(use --allow-extra to check only the first checkpoint-size entries against it)")
    if merkle_root_from_leaf_hashes(leaves[: cp.size], suite) != cp.root:
        raise VerifyError("merkle root", f"root of the first {cp.size} entries is not the checkpoint's root")
    extra = len(leaves) - cp.size
    return (f"OK origin={origin} entries={len(leaves)} checkpoint_size={cp.size} "
            f"root={b64(cp.root)} roster_version={roster.version} suite={suite}"
            + (f" handovers=[{', '.join(handovers)}]" if handovers else "")
            + (f" (entries beyond the checkpoint: {extra})" if extra else ""))


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise VerifyError("input", f"cannot read {what} {path}: {e.strerror}") from None


def _root(path: str) -> Verifier:
    try:
        return parse_verifier_key(_read(path, "root key").decode("utf-8"))
    except (FormatError, UnicodeDecodeError) as e:
        raise VerifyError("root key", str(e)) from None


def _text(path: str, what: str) -> str:
    try:
        return _read(path, what).decode("utf-8")
    except UnicodeDecodeError:
        raise VerifyError("input", f"{what} {path} is not UTF-8") from None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "log":
            ap = argparse.ArgumentParser(prog="rongxin_verify.py log",
                                         description="Verify a whole origin log against a checkpoint.")
            ap.add_argument("--entries", required=True, help="concatenated GET /v1/logs/{origin}/entries pages")
            ap.add_argument("--checkpoint", required=True, help="signed checkpoint note")
            ap.add_argument("--roster", required=True, help="root-signed roster note")
            ap.add_argument("--root", required=True, help="federation root verifier key (root.pub)")
            ap.add_argument("--allow-extra", action="store_true",
                            help="accept entries beyond the checkpoint size (checked, but not against the root)")
            a = ap.parse_args(argv[1:])
            root = _root(a.root)
            msg = verify_log(_text(a.entries, "entries"), _text(a.checkpoint, "checkpoint"),
                             _text(a.roster, "roster"), root, a.allow_extra)
        else:
            ap = argparse.ArgumentParser(prog="rongxin_verify.py",
                                         description="Verify a Rongxin provenance bundle offline "
                                                     "(docs/protocol.md §7). Also: 'log' mode, see 'log --help'.")
            ap.add_argument("bundle", help="bundle JSON (GET /v1/records/{origin}/{seq}/bundle)")
            ap.add_argument("--root", required=True, help="federation root verifier key (root.pub)")
            a = ap.parse_args(argv)
            root = _root(a.root)
            try:
                bundle = json.loads(_text(a.bundle, "bundle"))
            except json.JSONDecodeError as e:
                raise VerifyError(STEPS[1], f"bundle is not JSON: {e}") from None
            msg = verify_bundle(bundle, root)
    except VerifyError as e:
        print(f"FAILED: {e.step}: {e.why}")
        return 1
    except Exception as e:  # never let malformed input pass as anything but a failure
        print(f"FAILED: internal: {type(e).__name__}: {e}")
        return 1
    print(msg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
