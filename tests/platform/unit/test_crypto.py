"""Field encryption: round trips, context binding, tamper detection, key rotation, masking."""

from __future__ import annotations

import base64
import re
import string

import pytest

from marketplace.platform.crypto import DecryptionError, FieldCipher, Keyring, mask

KEY_A = bytes(range(32))
KEY_B = bytes(range(100, 132))
KEY_OLD = b"o" * 32
KEY_NEW = b"n" * 32
IBAN = "DE89370400440532013000"
CONTEXT_A = "vendors_payout_account.iban:pac_01JAAAAAAAAAAAAAAAAAAAAAAA"
CONTEXT_B = "vendors_payout_account.iban:pac_01JBBBBBBBBBBBBBBBBBBBBBBB"
TOKEN_RE = re.compile(r"v1\.[A-Za-z0-9_-]{1,32}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
B64URL_ALPHABET = string.ascii_letters + string.digits + "-_"
# Characters outside the alphabet: separators, padding, standard base64, non-ASCII.
FOREIGN_CHARS = ".=+/ \u00e9"


def _cipher(keys: dict[str, bytes] | None = None, current: str = "k1") -> FieldCipher:
    return FieldCipher(Keyring(keys or {"k1": KEY_A, "k2": KEY_B}, current))


def _b64(raw: bytes, *, urlsafe: bool = True, padded: bool = True) -> str:
    text = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(raw).decode("ascii")
    return text if padded else text.rstrip("=")


@pytest.mark.parametrize(
    "plaintext",
    [IBAN, "", "x", "Zürich — 東京 — 🙂", "a" * 10_000, "line\nbreak\x00nul"],
)
def test_round_trip(plaintext: str) -> None:
    cipher = _cipher()

    token = cipher.encrypt(plaintext, context=CONTEXT_A)

    assert TOKEN_RE.fullmatch(token)
    assert token.isascii()
    assert "=" not in token
    assert cipher.key_id(token) == "k1"
    assert cipher.decrypt(token, context=CONTEXT_A) == plaintext


def test_token_segments_have_the_documented_sizes() -> None:
    token = _cipher().encrypt(IBAN, context=CONTEXT_A)

    version, kid, wrapped, body = token.split(".")

    assert (version, kid) == ("v1", "k1")
    # wrap nonce (12) + data key (32) + tag (16) = 60 bytes = 80 base64 characters.
    assert len(wrapped) == 80
    # nonce (12) + ciphertext (22) + tag (16) = 50 bytes = 67 unpadded characters.
    assert len(body) == 67


def test_encrypting_the_same_value_twice_gives_different_tokens() -> None:
    cipher = _cipher()

    first = cipher.encrypt(IBAN, context=CONTEXT_A)
    second = cipher.encrypt(IBAN, context=CONTEXT_A)

    assert first != second
    assert first.split(".")[2] != second.split(".")[2]
    assert first.split(".")[3] != second.split(".")[3]
    assert cipher.decrypt(first, context=CONTEXT_A) == cipher.decrypt(second, context=CONTEXT_A)


@pytest.mark.parametrize(
    "wrong_context",
    [
        CONTEXT_B,
        "vendors_payout_account.bic:pac_01JAAAAAAAAAAAAAAAAAAAAAAA",
        CONTEXT_A + " ",
        CONTEXT_A.upper(),
    ],
)
def test_wrong_context_fails(wrong_context: str) -> None:
    cipher = _cipher()
    token = cipher.encrypt(IBAN, context=CONTEXT_A)

    with pytest.raises(DecryptionError):
        cipher.decrypt(token, context=wrong_context)


def test_token_copied_to_another_row_fails_there_and_still_works_in_its_own_row() -> None:
    cipher = _cipher()
    row_a = {"id": "pac_A", "iban": cipher.encrypt(IBAN, context=CONTEXT_A)}
    row_b = {
        "id": "pac_B",
        "iban": cipher.encrypt("FR1420041010050500013M02606", context=CONTEXT_B),
    }

    row_b["iban"] = row_a["iban"]  # an attacker with write access swaps ciphertexts

    with pytest.raises(DecryptionError):
        cipher.decrypt(row_b["iban"], context=CONTEXT_B)
    assert cipher.decrypt(row_a["iban"], context=CONTEXT_A) == IBAN


def test_empty_context_is_rejected() -> None:
    cipher = _cipher()
    token = cipher.encrypt(IBAN, context=CONTEXT_A)

    with pytest.raises(ValueError, match="context must be a non-empty string"):
        cipher.encrypt(IBAN, context="")
    with pytest.raises(DecryptionError, match="context must be a non-empty string"):
        cipher.decrypt(token, context="")


@pytest.mark.parametrize("segment", [0, 1, 2, 3])
def test_changing_any_single_character_of_any_segment_fails(segment: int) -> None:
    cipher = _cipher()
    token = cipher.encrypt(IBAN, context=CONTEXT_A)
    parts = token.split(".")
    tampered_count = 0

    for position, original in enumerate(parts[segment]):
        for replacement in B64URL_ALPHABET + FOREIGN_CHARS:
            if replacement == original:
                continue
            chars = list(parts[segment])
            chars[position] = replacement
            tampered = ".".join([*parts[:segment], "".join(chars), *parts[segment + 1 :]])
            with pytest.raises(DecryptionError):
                cipher.decrypt(tampered, context=CONTEXT_A)
            tampered_count += 1

    assert tampered_count == len(parts[segment]) * (len(B64URL_ALPHABET + FOREIGN_CHARS) - 1)


def test_changing_the_key_id_to_another_known_key_fails() -> None:
    cipher = _cipher()  # holds both k1 and k2
    token = cipher.encrypt(IBAN, context=CONTEXT_A)

    with pytest.raises(DecryptionError, match="key id 'k2'"):
        cipher.decrypt(token.replace(".k1.", ".k2.", 1), context=CONTEXT_A)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "v1",
        "v1.k1.AAAA",
        "v1.k1.AAAA.AAAA.AAAA",
        "not a token at all",
        "v1..AAAA.AAAA",
        "v1.k1..",
        f"v1.k1.{'A' * 80}.{'A' * 36}",  # body shorter than nonce + tag
        f"v1.k1.{'A' * 79}.{'A' * 40}",  # wrapped key segment of the wrong size
        f"v1.{'k' * 33}.{'A' * 80}.{'A' * 40}",  # key id too long
    ],
)
def test_malformed_tokens_fail(token: str) -> None:
    cipher = _cipher()

    with pytest.raises(DecryptionError, match="malformed token"):
        cipher.decrypt(token, context=CONTEXT_A)
    with pytest.raises(DecryptionError, match="malformed token"):
        cipher.key_id(token)


def test_non_string_token_fails_with_decryption_error() -> None:
    with pytest.raises(DecryptionError, match="must be a string"):
        _cipher().decrypt(b"v1.k1.AAAA.AAAA", context=CONTEXT_A)  # type: ignore[arg-type]


def test_wrong_key_fails() -> None:
    token = _cipher({"k1": KEY_A}, "k1").encrypt(IBAN, context=CONTEXT_A)
    other = _cipher({"k1": KEY_B}, "k1")  # same id, different key material

    with pytest.raises(DecryptionError, match="wrong key"):
        other.decrypt(token, context=CONTEXT_A)


def test_unknown_key_id_fails() -> None:
    token = _cipher({"gone": KEY_A}, "gone").encrypt(IBAN, context=CONTEXT_A)

    with pytest.raises(DecryptionError, match="unknown key id 'gone'"):
        _cipher({"k1": KEY_A}, "k1").decrypt(token, context=CONTEXT_A)


def test_rotation_keeps_old_tokens_readable_and_rewraps_without_reencrypting() -> None:
    old_only = _cipher({"old": KEY_OLD}, "old")
    token = old_only.encrypt(IBAN, context=CONTEXT_A)
    both = _cipher({"old": KEY_OLD, "new": KEY_NEW}, "new")

    assert both.decrypt(token, context=CONTEXT_A) == IBAN
    assert both.key_id(token) == "old"
    assert both.needs_rotation(token) is True

    rotated = both.rotate(token, context=CONTEXT_A)

    assert both.key_id(rotated) == "new"
    assert both.needs_rotation(rotated) is False
    assert rotated.split(".")[3] == token.split(".")[3]  # ciphertext reused byte for byte
    assert rotated.split(".")[2] != token.split(".")[2]
    assert both.rotate(rotated, context=CONTEXT_A) is rotated
    assert both.decrypt(rotated, context=CONTEXT_A) == IBAN

    new_only = _cipher({"new": KEY_NEW}, "new")
    assert new_only.decrypt(rotated, context=CONTEXT_A) == IBAN
    with pytest.raises(DecryptionError, match="unknown key id 'old'"):
        new_only.decrypt(token, context=CONTEXT_A)


def test_rotating_with_the_wrong_context_fails() -> None:
    token = _cipher({"old": KEY_OLD}, "old").encrypt(IBAN, context=CONTEXT_A)
    both = _cipher({"old": KEY_OLD, "new": KEY_NEW}, "new")

    with pytest.raises(DecryptionError):
        both.rotate(token, context=CONTEXT_B)


def test_new_values_use_the_current_key() -> None:
    both = _cipher({"old": KEY_OLD, "new": KEY_NEW}, "new")

    assert both.key_id(both.encrypt(IBAN, context=CONTEXT_A)) == "new"


def test_error_messages_never_contain_plaintext_or_key_material() -> None:
    secret = "DE00SECRETPLAINTEXT123456"
    cipher = _cipher()
    token = cipher.encrypt(secret, context=CONTEXT_A)
    wrapped, body = token.split(".")[2:]
    flipped_body = body[:-1] + ("A" if body[-1] != "A" else "B")
    failures = [
        lambda: cipher.decrypt(token, context=CONTEXT_B),
        lambda: cipher.decrypt(token.replace(wrapped, wrapped[::-1]), context=CONTEXT_A),
        lambda: cipher.decrypt(token.replace(body, flipped_body), context=CONTEXT_A),
        lambda: _cipher({"k1": KEY_B}, "k1").decrypt(token, context=CONTEXT_A),
        lambda: cipher.decrypt(secret, context=CONTEXT_A),  # plaintext passed by mistake
        lambda: cipher.decrypt(f"v1.k1.{secret}.{secret}", context=CONTEXT_A),
        lambda: cipher.rotate(secret, context=CONTEXT_A),
        lambda: cipher.key_id(secret),
    ]
    forbidden = [secret, KEY_A.hex(), _b64(KEY_A), _b64(KEY_A, urlsafe=False), repr(KEY_A)]

    for failure in failures:
        with pytest.raises(DecryptionError) as caught:
            failure()
        rendered = f"{caught.value} {caught.value!r}"
        for fragment in forbidden:
            assert fragment not in rendered


def test_keyring_repr_does_not_show_keys() -> None:
    ring = Keyring({"k1": KEY_A, "k2": KEY_B}, "k2")

    assert repr(ring) == "Keyring(ids=['k1', 'k2'], current='k2')"


@pytest.mark.parametrize(
    ("value", "visible", "expected"),
    [
        (IBAN, 4, "****3000"),
        ("DE89 3704 0044 0532 0130 00", 4, "****3000"),
        ("GB29 NWBK 6016 1331 9268 19", 6, "****926819"),
        ("12345", 4, "****2345"),
        ("1234", 4, "****"),
        ("123", 4, "****"),
        ("12 34", 4, "****"),
        ("", 4, "****"),
        ("   ", 4, "****"),
        (IBAN, 0, "****"),
        (None, 4, None),
    ],
)
def test_mask(value: str | None, visible: int, expected: str | None) -> None:
    assert mask(value, visible=visible) == expected


def test_mask_default_shows_four_characters() -> None:
    assert mask(IBAN) == "****3000"


def test_mask_rejects_negative_visible() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        mask(IBAN, visible=-1)


def test_keyring_rejects_an_empty_ring() -> None:
    with pytest.raises(ValueError, match="keyring is empty"):
        Keyring({}, "k1")
    with pytest.raises(ValueError, match="keyring is empty"):
        Keyring.from_config({}, None)


@pytest.mark.parametrize("length", [1, 16, 31, 33, 64])
def test_keyring_rejects_keys_of_the_wrong_length(length: int) -> None:
    with pytest.raises(ValueError, match=f"exactly 32 bytes .*got {length}"):
        Keyring({"k1": b"k" * length}, "k1")
    with pytest.raises(ValueError, match=f"exactly 32 bytes .*got {length}"):
        Keyring.from_config({"k1": _b64(b"k" * length)}, "k1")


def test_keyring_rejects_an_unknown_current_id() -> None:
    with pytest.raises(ValueError, match=r"current key id 'k3' is not in the keyring \(has: k1\)"):
        Keyring({"k1": KEY_A}, "k3")
    with pytest.raises(ValueError, match="current key id 'k3'"):
        Keyring.from_config({"k1": _b64(KEY_A)}, "k3")


@pytest.mark.parametrize("kid", ["", "k" * 33, "has space", "dotted.id", "colon:id", "ümlaut"])
def test_keyring_rejects_invalid_key_ids(kid: str) -> None:
    with pytest.raises(ValueError, match="invalid key id"):
        Keyring({kid: KEY_A}, kid)


def test_keyring_accepts_boundary_key_ids() -> None:
    kid = "A-z_9" + "x" * 27
    ring = Keyring({kid: KEY_A, "1": KEY_B}, kid)

    assert ring.ids == ("1", kid)
    assert ring.current == kid


def test_keyring_rejects_non_bytes_keys() -> None:
    with pytest.raises(TypeError, match="must be bytes"):
        Keyring({"k1": "k" * 32}, "k1")  # type: ignore[dict-item]


def test_from_config_accepts_urlsafe_and_standard_base64_with_or_without_padding() -> None:
    # 0xfb/0xff bytes make the two alphabets differ ("-_" versus "+/").
    key = bytes([0xFB, 0xFF] * 16)
    spellings = [
        _b64(key),
        _b64(key, padded=False),
        _b64(key, urlsafe=False),
        _b64(key, urlsafe=False, padded=False),
        f"  {_b64(key)[:20]}\n{_b64(key)[20:]}  ",
    ]
    assert "-" in spellings[0]
    assert "+" in spellings[2]

    for spelling in spellings:
        ring = Keyring.from_config({"k1": spelling}, None)
        assert ring.key("k1") == key
        assert ring.current == "k1"


def test_from_config_needs_a_current_id_with_several_keys() -> None:
    keys = {"k1": _b64(KEY_A), "k2": _b64(KEY_B)}

    with pytest.raises(ValueError, match=r"keyring has 2 keys \(k1, k2\): name the current"):
        Keyring.from_config(keys, None)

    ring = Keyring.from_config(keys, "k2")
    assert ring.current == "k2"
    assert ring.ids == ("k1", "k2")


@pytest.mark.parametrize("value", ["not base64!", "A", "AAAAA", "====", ""])
def test_from_config_rejects_invalid_base64(value: str) -> None:
    with pytest.raises(ValueError, match="key 'k1' is not valid base64"):
        Keyring.from_config({"k1": value}, None)


def test_from_config_errors_do_not_echo_the_key() -> None:
    short = _b64(b"s3cr3t-key-material")

    with pytest.raises(ValueError, match="exactly 32 bytes") as caught:
        Keyring.from_config({"k1": short}, None)

    assert short not in str(caught.value)


def test_derived_keyring_is_deterministic_and_secret_specific() -> None:
    first = FieldCipher(Keyring.derived("development-secret"))
    again = FieldCipher(Keyring.derived("development-secret"))
    other = FieldCipher(Keyring.derived("another-secret"))

    token = first.encrypt(IBAN, context=CONTEXT_A)

    assert first.keyring.ids == ("dev",)
    assert first.keyring.current == "dev"
    assert first.keyring.key("dev") == again.keyring.key("dev")
    assert len(first.keyring.key("dev")) == 32
    assert again.decrypt(token, context=CONTEXT_A) == IBAN
    with pytest.raises(DecryptionError):
        other.decrypt(token, context=CONTEXT_A)


def test_derived_keyring_rejects_an_empty_secret() -> None:
    with pytest.raises(ValueError, match="empty secret"):
        Keyring.derived("")
