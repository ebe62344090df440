"""Owns field-level encryption of sensitive column values (envelope AES-256-GCM) and masking.

Each value gets its own random 256-bit data key; the data key is wrapped by a long-lived
key-encryption key from a :class:`Keyring`. A token is ASCII and self-describing::

    v1.<kid>.<b64url(wrap nonce + wrapped data key)>.<b64url(nonce + ciphertext)>

The caller's ``context`` (``table.column:row_id``) is authenticated in both layers, so a
ciphertext copied to another row or column does not decrypt. Rotating the key-encryption
key only re-wraps the 32-byte data key; the (possibly large) ciphertext is left untouched,
which keeps :func:`reencrypt_column` cheap on big tables.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Table, select, update

from marketplace.platform.db import Database

__all__ = ["DecryptionError", "FieldCipher", "Keyring", "mask", "reencrypt_column"]

_VERSION = "v1"
_KEY_BYTES = 32
_NONCE_BYTES = 12
_TAG_BYTES = 16
_WRAP_BYTES = _NONCE_BYTES + _KEY_BYTES + _TAG_BYTES
_MIN_BODY_BYTES = _NONCE_BYTES + _TAG_BYTES
_KID_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
_B64URL_RE = re.compile(r"[A-Za-z0-9_-]+")
_B64STD_RE = re.compile(r"[A-Za-z0-9+/]+")
_URLSAFE_TO_STD = str.maketrans("-_", "+/")
_DEV_KID = "dev"
# Changing this string changes every derived development key; it never needs to.
_DEV_HKDF_INFO = b"marketplace.platform.crypto:dev-kek:v1"
_MASK = "****"


class DecryptionError(ValueError):
    """A token could not be decrypted; the message never carries plaintext or key material."""


class Keyring:
    """Key-encryption keys by key id, and which one encrypts (wraps) new values.

    Old keys stay in the ring as non-current so existing tokens keep decrypting until
    :func:`reencrypt_column` has re-wrapped them; only then can an old key be removed.
    """

    __slots__ = ("_current", "_keys")

    def __init__(self, keys: Mapping[str, bytes], current: str) -> None:
        if not keys:
            raise ValueError("keyring is empty: configure at least one key-encryption key")
        checked: dict[str, bytes] = {}
        for kid, key in keys.items():
            _check_kid(kid)
            if not isinstance(key, bytes):
                raise TypeError(f"key {kid!r} must be bytes, got {type(key).__name__}")
            if len(key) != _KEY_BYTES:
                raise ValueError(
                    f"key {kid!r} must be exactly {_KEY_BYTES} bytes (AES-256), got {len(key)}"
                )
            checked[kid] = key
        if current not in checked:
            known = ", ".join(sorted(checked))
            raise ValueError(f"current key id {current!r} is not in the keyring (has: {known})")
        self._keys = checked
        self._current = current

    @classmethod
    def from_config(cls, keys: Mapping[str, str], current: str | None = None) -> Keyring:
        """Build a ring from base64 (urlsafe or standard, padding optional) key strings.

        ``current`` may be omitted only when the ring holds exactly one key.
        """
        if not keys:
            raise ValueError("keyring is empty: configure at least one key-encryption key")
        decoded = {kid: _decode_key(kid, value) for kid, value in keys.items()}
        if current is None:
            if len(decoded) != 1:
                known = ", ".join(sorted(decoded))
                raise ValueError(
                    f"keyring has {len(decoded)} keys ({known}): name the current key id"
                )
            (current,) = decoded
        return cls(decoded, current)

    @classmethod
    def derived(cls, secret: str) -> Keyring:
        """A single-key ring (id ``"dev"``) derived from ``secret`` with HKDF-SHA256.

        For the development default only: production rings hold random keys, so that
        leaking the application secret does not also expose every encrypted field.
        """
        if not secret:
            raise ValueError("cannot derive a key from an empty secret")
        hkdf = HKDF(algorithm=hashes.SHA256(), length=_KEY_BYTES, salt=None, info=_DEV_HKDF_INFO)
        return cls({_DEV_KID: hkdf.derive(secret.encode("utf-8"))}, _DEV_KID)

    @property
    def current(self) -> str:
        """The key id that wraps newly encrypted and rotated values."""
        return self._current

    @property
    def ids(self) -> tuple[str, ...]:
        """Every key id in the ring, sorted."""
        return tuple(sorted(self._keys))

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

    def key(self, kid: str) -> bytes:
        """The raw key for ``kid``; KeyError if the ring does not hold it."""
        return self._keys[kid]

    def __repr__(self) -> str:
        # Never the keys themselves: a repr ends up in logs and error reports.
        return f"Keyring(ids={list(self.ids)!r}, current={self._current!r})"


def _check_kid(kid: object) -> None:
    if not isinstance(kid, str) or _KID_RE.fullmatch(kid) is None:
        raise ValueError(f"invalid key id {kid!r}: use 1-32 characters from A-Z a-z 0-9 _ -")


def _decode_key(kid: str, value: str) -> bytes:
    _check_kid(kid)
    if not isinstance(value, str):
        raise TypeError(f"key {kid!r} must be a base64 string, got {type(value).__name__}")
    # Whitespace creeps in when keys are pasted into env files or wrapped in YAML.
    text = "".join(value.split()).rstrip("=").translate(_URLSAFE_TO_STD)
    if _B64STD_RE.fullmatch(text) is None or len(text) % 4 == 1:
        raise ValueError(f"key {kid!r} is not valid base64")
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error:
        raise ValueError(f"key {kid!r} is not valid base64") from None
    if len(raw) != _KEY_BYTES:
        raise ValueError(
            f"key {kid!r} must decode to exactly {_KEY_BYTES} bytes (AES-256), got {len(raw)};"
            ' generate one with: python -c "import base64, os;'
            ' print(base64.urlsafe_b64encode(os.urandom(32)).decode())"'
        )
    return raw


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(segment: str) -> bytes | None:
    if _B64URL_RE.fullmatch(segment) is None or len(segment) % 4 == 1:
        return None
    raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    # The last character may carry unused low bits, so several spellings decode to the
    # same bytes; accepting only the canonical one gives every token exactly one form.
    if _b64encode(raw) != segment:
        return None
    return raw


@dataclass(frozen=True, slots=True)
class _Token:
    kid: str
    wrapped: bytes  # wrap nonce + wrapped data key (with its tag)
    body_segment: str  # kept verbatim so rotation copies the ciphertext byte for byte
    body: bytes  # nonce + ciphertext (with its tag)


def _parse(token: object) -> _Token:
    # Messages here never echo the token: a caller may pass a plaintext value by mistake.
    if not isinstance(token, str):
        raise DecryptionError(f"token must be a string, got {type(token).__name__}")
    parts = token.split(".")
    if len(parts) != 4:
        raise DecryptionError("malformed token: expected 4 dot-separated segments")
    version, kid, wrapped_segment, body_segment = parts
    if version != _VERSION:
        raise DecryptionError("malformed token: unsupported version")
    if _KID_RE.fullmatch(kid) is None:
        raise DecryptionError("malformed token: invalid key id")
    wrapped = _b64decode(wrapped_segment)
    if wrapped is None or len(wrapped) != _WRAP_BYTES:
        raise DecryptionError("malformed token: invalid wrapped-key segment")
    body = _b64decode(body_segment)
    if body is None or len(body) < _MIN_BODY_BYTES:
        raise DecryptionError("malformed token: invalid ciphertext segment")
    return _Token(kid=kid, wrapped=wrapped, body_segment=body_segment, body=body)


def _context_bytes(context: object, error: type[ValueError]) -> bytes:
    # An empty context would bind nothing: a value could be moved to any row unnoticed.
    if not isinstance(context, str) or not context:
        raise error("context must be a non-empty string such as 'table.column:row_id'")
    try:
        return context.encode("utf-8")
    except UnicodeEncodeError:
        raise error("context is not encodable as UTF-8") from None


def _wrap_aad(kid: str, context: bytes) -> bytes:
    # NUL cannot occur in a key id, so (kid, context) pairs map to distinct byte strings.
    return kid.encode("ascii") + b"\x00" + context


class FieldCipher:
    """Encrypts and decrypts single field values; safe to share across tasks and threads."""

    __slots__ = ("_aeads", "_keyring")

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring
        self._aeads = {kid: AESGCM(keyring.key(kid)) for kid in keyring.ids}

    @property
    def keyring(self) -> Keyring:
        return self._keyring

    def encrypt(self, plaintext: str, *, context: str) -> str:
        """Encrypt ``plaintext`` for the place named by ``context`` under the current key."""
        if not isinstance(plaintext, str):
            raise TypeError(f"plaintext must be a str, got {type(plaintext).__name__}")
        aad = _context_bytes(context, ValueError)
        try:
            data = plaintext.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("plaintext is not encodable as UTF-8") from None
        data_key = AESGCM.generate_key(bit_length=_KEY_BYTES * 8)
        nonce = os.urandom(_NONCE_BYTES)
        body = nonce + AESGCM(data_key).encrypt(nonce, data, aad)
        kid = self._keyring.current
        return self._format(kid, self._wrap(kid, data_key, aad), _b64encode(body))

    def decrypt(self, token: str, *, context: str) -> str:
        """Return the plaintext; DecryptionError on any failure (key, context, tampering)."""
        aad = _context_bytes(context, DecryptionError)
        parsed = _parse(token)
        data_key = self._unwrap(parsed, aad)
        nonce, ciphertext = parsed.body[:_NONCE_BYTES], parsed.body[_NONCE_BYTES:]
        try:
            data = AESGCM(data_key).decrypt(nonce, ciphertext, aad)
        except InvalidTag:
            raise DecryptionError(
                "cannot decrypt value: authentication failed (wrong context or tampered token)"
            ) from None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise DecryptionError("cannot decrypt value: plaintext is not UTF-8") from None

    def key_id(self, token: str) -> str:
        """The id of the key that wraps ``token``'s data key (DecryptionError if malformed)."""
        return _parse(token).kid

    def needs_rotation(self, token: str) -> bool:
        """Whether ``token`` is wrapped by a key other than the current one."""
        return _parse(token).kid != self._keyring.current

    def rotate(self, token: str, *, context: str) -> str:
        """Re-wrap ``token``'s data key under the current key; the ciphertext is reused.

        A token already under the current key is returned unchanged without being
        authenticated, so this stays free for the common case; :meth:`decrypt` still
        checks it in full.
        """
        aad = _context_bytes(context, DecryptionError)
        parsed = _parse(token)
        current = self._keyring.current
        if parsed.kid == current:
            return token
        data_key = self._unwrap(parsed, aad)
        return self._format(current, self._wrap(current, data_key, aad), parsed.body_segment)

    def _wrap(self, kid: str, data_key: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aeads[kid].encrypt(nonce, data_key, _wrap_aad(kid, aad))

    def _unwrap(self, parsed: _Token, aad: bytes) -> bytes:
        aead = self._aeads.get(parsed.kid)
        if aead is None:
            raise DecryptionError(f"cannot decrypt value: unknown key id {parsed.kid!r}")
        nonce, wrapped = parsed.wrapped[:_NONCE_BYTES], parsed.wrapped[_NONCE_BYTES:]
        try:
            data_key = aead.decrypt(nonce, wrapped, _wrap_aad(parsed.kid, aad))
        except InvalidTag:
            raise DecryptionError(
                f"cannot unwrap data key with key id {parsed.kid!r}:"
                " wrong key, wrong context or tampered token"
            ) from None
        if len(data_key) != _KEY_BYTES:
            raise DecryptionError("cannot decrypt value: wrapped data key has the wrong size")
        return data_key

    @staticmethod
    def _format(kid: str, wrapped: bytes, body_segment: str) -> str:
        return f"{_VERSION}.{kid}.{_b64encode(wrapped)}.{body_segment}"


def mask(value: str | None, *, visible: int = 4) -> str | None:
    """``"****"`` plus the last ``visible`` characters, ignoring whitespace.

    Values no longer than ``visible`` are masked completely: showing all of a short
    value would reveal it.
    """
    if value is None:
        return None
    if visible < 0:
        raise ValueError(f"visible must not be negative, got {visible}")
    compact = "".join(value.split())
    # visible == 0 needs its own branch: compact[-0:] would be the whole value.
    if visible == 0 or len(compact) <= visible:
        return _MASK
    return _MASK + compact[-visible:]


async def reencrypt_column(
    db: Database,
    *,
    table: Table,
    id_column: str,
    column: str,
    context_prefix: str,
    cipher: FieldCipher,
    batch_size: int = 500,
) -> int:
    """Re-wrap every value of ``table.column`` not under the current key; return the count.

    Rows are walked in ``id_column`` order with keyset pagination, each batch in its own
    short transaction, so locks are brief and an interrupted run can simply be repeated.
    Each UPDATE only applies if the value is still the token that was read: a value
    changed meanwhile (already written under the current key) is left alone and not
    counted. A value that is not a valid token for its row raises DecryptionError naming
    the row, and batches before it stay committed.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    for name in (id_column, column):
        if name not in table.c:
            raise ValueError(f"table {table.name!r} has no column {name!r}")
    id_col = table.c[id_column]
    value_col = table.c[column]
    current_prefix = f"{_VERSION}.{cipher.keyring.current}."
    rewrapped = 0
    last_id: Any = None
    while True:
        # Values already under the current key are filtered in SQL so a re-run reads
        # nothing; needs_rotation below remains the authority.
        query = (
            select(id_col, value_col)
            .where(value_col.is_not(None), ~value_col.startswith(current_prefix, autoescape=True))
            .order_by(id_col)
            .limit(batch_size)
        )
        if last_id is not None:
            query = query.where(id_col > last_id)
        async with db.session() as session, session.begin():
            connection = await session.connection()
            rows = (await connection.execute(query)).all()
            for row_id, token in rows:
                context = f"{context_prefix}:{row_id}"
                try:
                    if not cipher.needs_rotation(token):
                        continue
                    new_token = cipher.rotate(token, context=context)
                except DecryptionError as error:
                    raise DecryptionError(
                        f"{table.name}.{column} of row {row_id!r}: {error}"
                    ) from None
                result = await connection.execute(
                    update(table)
                    .where(id_col == row_id, value_col == token)
                    .values({column: new_token})
                )
                rewrapped += result.rowcount
        if len(rows) < batch_size:
            return rewrapped
        last_id = rows[-1][0]
