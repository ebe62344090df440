"""The wire bytes of an outgoing email, written directly for the one shape we send: our
fixed headers; a text/plain body, with a text/html alternative when there is one; and, when
there are attachments, a multipart/mixed holding that body and each attachment after it.

Building the same message with `email.message.EmailMessage` (header registry parsing, then
`as_bytes`) was about half the CPU of a send. What a mail client sees is unchanged;
the bytes differ in ways no reader shows: text bodies are quoted-printable or base64
instead of raw 8-bit UTF-8, so every message is 7-bit ASCII with CRLF line ends (the form
SMTP DATA carries, which any relay accepts without 8BITMIME), and header lines are folded
within 78 characters.

Anything that cannot be written faithfully (a line break in a header value, an address
that is not ASCII and so needs SMTPUTF8, a malformed content type) raises
`PermanentFailure`: retrying the same data cannot help.
"""

from __future__ import annotations

import binascii
import re
import secrets
from email.utils import format_datetime
from functools import lru_cache
from typing import Final
from urllib.parse import quote

from email_validator import EmailNotValidError, validate_email

from marketplace.notifications.channels.base import Attachment, OutgoingEmail, PermanentFailure
from marketplace.platform.clock import utcnow

# RFC 5322 2.1.1: lines SHOULD be at most 78 characters (we fold there), MUST be at most 998.
_LINE: Final = 78
# Values written unfolded (addresses, ids, URLs) stay well inside the 998 limit.
_UNFOLDED_MAX: Final = 900
# RFC 2047 2: an encoded word, "=?utf-8?q?" and "?=" included, is at most 75 characters.
_WORD: Final = 75
_WORD_OVERHEAD: Final = len("=?utf-8?q??=")
# Leaves the first encoded word of an extra header room for any one character (12 in Q).
_EXTRA_NAME_MAX: Final = 50

# Written by us; an extra header of the same name would make a second one.
_OWN_HEADERS: Final = frozenset(
    {
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "auto-submitted",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "content-language",
    }
)
# A display name written as is: RFC 5322 atoms separated by single spaces (a reader would
# collapse longer runs of whitespace between atoms).
_ATOMS: Final = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?: [A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_TOKEN: Final = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
# RFC 2047 5(3): the only characters a Q-encoded word in a display name may carry as is (the
# set is also valid in Subject, so one table serves both).
_Q_LITERAL: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
# RFC 2231 attribute-char: what a percent-encoded filename keeps as is.
_ATTR_CHARS: Final = "!#$&+-.^_`|~"


def envelope_address(address: str) -> str:
    """`address` as sent: an internationalized domain in its ASCII form (IDNA A-labels,
    `anna@xn--bcher-kva.de`), which every mail server routes. A local part that is not ASCII
    would need SMTPUTF8, which we do not use: a PermanentFailure (in `message_bytes`)."""
    if address.isascii():
        return address
    try:
        converted = validate_email(address, check_deliverability=False).ascii_email
    except EmailNotValidError:
        return address  # left for the ASCII check to refuse, naming the header
    return converted or address


def message_bytes(email: OutgoingEmail, *, sender: str, sender_name: str) -> bytes:
    """The whole message, headers and body, as sent."""
    headers = [
        _from(sender_name, sender),
        _unfolded("To", envelope_address(email.to)),
        _unstructured("Subject", email.subject),
        f"Date: {format_datetime(utcnow())}",
        _unfolded("Message-ID", email.message_id),
        "Auto-Submitted: auto-generated",
    ]
    if email.unsubscribe_url:
        # RFC 8058 one-click: mail clients POST "List-Unsubscribe=One-Click" to the URL.
        headers.append(_unfolded("List-Unsubscribe", f"<{email.unsubscribe_url}>"))
        headers.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
    for name, value in email.headers.items():
        headers.append(_unstructured(_extra_name(name), value))
    headers.append(_unfolded("Content-Language", email.language))
    headers.append("MIME-Version: 1.0")

    # "=_" never occurs in quoted-printable ("=" is followed by two hex digits or a line
    # break) nor in base64 (no "_"), so no encoded body can contain a delimiter line; the
    # random part keeps boundaries unique per message, and the two nested ones differ in
    # their third character, so neither starts the other.
    token = secrets.token_hex(12)  # 96 random bits; the Content-Type line fits 78
    body = _text_part("plain", email.text)
    if email.html:
        body = _multipart("alternative", f"=_a{token}", [body, _text_part("html", email.html)])
    if email.attachments:
        body = _multipart("mixed", f"=_m{token}", [body, *map(_attachment, email.attachments)])
    data = "\r\n".join(headers).encode("ascii") + b"\r\n" + body
    return data if data.endswith(b"\r\n") else data + b"\r\n"


# Headers


def _from(name: str, address: str) -> str:
    """`From: Name <address>`, the name as is, quoted, or in encoded words."""
    angle = f"<{_ascii(address, 'From')}>"
    if not name:
        return f"From: {address}"
    _single_line(name, "From")
    if name.isascii() and name.isprintable() and "=?" not in name:
        phrase = name
        if not _ATOMS.fullmatch(name):
            phrase = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        line = f"From: {phrase} {angle}"
        if len(line) <= _LINE:
            return line
    folded = "From: " + "\r\n ".join(_encoded_words(name, first=_LINE - len("From: ")))
    last_line = folded.rpartition("\n")[2]
    separator = " " if len(last_line) + 1 + len(angle) <= _LINE else "\r\n "
    return folded + separator + angle


def _unstructured(name: str, value: str) -> str:
    """Free text (Subject, extras): plain ASCII words folded at spaces, else RFC 2047 words."""
    _single_line(value, name)
    head = f"{name}: "
    if not value:
        return f"{name}:"
    # Leading, trailing or repeated spaces, tabs, words longer than a line, and "=?" (which
    # readers would decode) go in encoded words: as plain text a reader might not keep them.
    if value.isascii() and value.isprintable() and "=?" not in value:
        words = value.split(" ")
        if all(words):
            lines = [head + words[0]]
            for word in words[1:]:
                if len(lines[-1]) + 1 + len(word) <= _LINE:
                    lines[-1] += " " + word
                else:
                    lines.append(" " + word)
            if all(len(line) <= _LINE for line in lines):
                return "\r\n".join(lines)
    return head + "\r\n ".join(_encoded_words(value, first=_LINE - len(head)))


def _encoded_words(text: str, *, first: int) -> list[str]:
    """RFC 2047 encoded words of UTF-8 `text`, Q or B (whichever is shorter), each at most 75
    characters and the first at most `first`. A reader drops the whitespace between two
    encoded words, so every space of `text` is inside a word (a Q "_"); words split between
    characters, never inside one's UTF-8 bytes."""
    pieces = [_q(character) for character in text]
    if sum(map(len, pieces)) <= len(text.encode()) * 4 / 3:
        return _q_words(pieces, first=first)
    return _b_words(text, first=first)


def _q_words(pieces: list[str], *, first: int) -> list[str]:
    words: list[str] = []
    chunk: list[str] = []
    used, room = 0, first - _WORD_OVERHEAD
    for piece in pieces:
        if chunk and used + len(piece) > room:
            words.append(f"=?utf-8?q?{''.join(chunk)}?=")
            chunk, used, room = [], 0, _WORD - _WORD_OVERHEAD
        chunk.append(piece)
        used += len(piece)
    if chunk:
        words.append(f"=?utf-8?q?{''.join(chunk)}?=")
    return words


def _b_words(text: str, *, first: int) -> list[str]:
    words: list[str] = []
    chunk = bytearray()
    # Base64 turns each 3 bytes into 4 characters: whole groups only, so no padding mid-text.
    room = (first - _WORD_OVERHEAD) // 4 * 3
    for character in text:
        data = character.encode()
        if chunk and len(chunk) + len(data) > room:
            words.append(f"=?utf-8?b?{_b64(chunk)}?=")
            chunk, room = bytearray(), (_WORD - _WORD_OVERHEAD) // 4 * 3
        chunk += data
    if chunk:
        words.append(f"=?utf-8?b?{_b64(chunk)}?=")
    return words


def _b64(data: bytes | bytearray) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


@lru_cache(maxsize=4096)
def _q(character: str) -> str:
    if character in _Q_LITERAL:
        return character
    if character == " ":
        return "_"
    return "".join(f"={byte:02X}" for byte in character.encode())


def _unfolded(name: str, value: str) -> str:
    """A header whose value is ASCII by nature (address, id, URL, language tag): as is."""
    return f"{name}: {_ascii(value, name)}"


def _ascii(value: str, name: str) -> str:
    if not (value.isascii() and value.isprintable()) or len(value) > _UNFOLDED_MAX:
        # Also an internationalized address: it would need SMTPUTF8, which we do not use.
        raise PermanentFailure(f"{name} {value!r} is not printable ASCII of a sendable length")
    return value


def _single_line(value: str, name: str) -> None:
    # What `EmailMessage` refused too: a line break in a value could forge headers.
    if "\r" in value or "\n" in value:
        raise PermanentFailure(f"{name} {value!r} contains a line break")


def _extra_name(name: str) -> str:
    if (
        not 0 < len(name) <= _EXTRA_NAME_MAX
        or not (name.isascii() and name.isprintable())
        or " " in name
        or ":" in name
        or name.lower() in _OWN_HEADERS
    ):
        raise PermanentFailure(f"{name!r} cannot be an extra header")
    return name


# Body


def _text_part(subtype: str, text: str) -> bytes:
    """A text part, headers included. Line breaks (CRLF, CR or LF) become CRLF and the text
    ends with one, as `EmailMessage` made them; a reader gets CRLF back.

    Quoted-printable keeps Latin-script text readable in the source at little more than its
    size, even dense with accents. Where it would more than double the text (Cyrillic,
    Greek, CJK: nearly every byte becomes three characters), base64 (4/3) is taken."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.endswith("\n"):
        text += "\n"
    data = text.encode()
    # Lines of at most 76 characters, "=" plus hex for every non-ASCII byte, "=" and control
    # character, and for whitespace before a line break; LF line breaks stay LF in it.
    encoded = binascii.b2a_qp(data, istext=True)
    if len(encoded) <= 2 * len(data):
        encoding, body = "quoted-printable", encoded.replace(b"\n", b"\r\n")
    else:
        encoding, body = "base64", _base64_lines(data.replace(b"\n", b"\r\n"))
    head = (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        f"Content-Transfer-Encoding: {encoding}\r\n\r\n"
    )
    return head.encode("ascii") + body


def _attachment(attachment: Attachment) -> bytes:
    head = (
        f"Content-Type: {_content_type(attachment.content_type)}\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        f"{_disposition(attachment.filename)}\r\n\r\n"
    )
    return head.encode("ascii") + _base64_lines(attachment.data)


def _content_type(value: str) -> str:
    maintype, _, subtype = value.partition("/")
    subtype = subtype or "octet-stream"  # "application" alone, as `add_attachment` read it
    if (
        not _TOKEN.fullmatch(maintype)
        or not _TOKEN.fullmatch(subtype)
        # RFC 2045 6.4: these may not be base64-encoded.
        or maintype.lower() in ("multipart", "message")
    ):
        raise PermanentFailure(f"attachment content type {value!r} cannot be sent")
    return f"{maintype}/{subtype}"


def _disposition(filename: str) -> str:
    """`Content-Disposition: attachment; filename=...`: a quoted ASCII name when it fits on
    the line, else RFC 2231 (UTF-8, percent-encoded) in numbered sections, one per line."""
    head = "Content-Disposition: attachment;"
    if filename.isascii() and filename.isprintable():
        quoted = filename.replace("\\", "\\\\").replace('"', '\\"')
        line = f'{head} filename="{quoted}"'
        if len(line) <= _LINE:
            return line
    pieces = [quote(character, safe=_ATTR_CHARS) for character in filename]
    single = f" filename*=utf-8''{''.join(pieces)}"
    if len(head) + len(single) <= _LINE:
        return head + single
    sections: list[str] = []
    value = "utf-8''"
    for piece in pieces:
        # " filename*N*=" + value + ";" within the line, for up to 1000 sections.
        if len(value) + len(piece) > _LINE - len(" filename*999*=;"):
            sections.append(value)
            value = ""
        value += piece
    sections.append(value)
    parts = [f" filename*{number}*={value}" for number, value in enumerate(sections)]
    return head + "\r\n" + ";\r\n".join(parts)


def _base64_lines(data: bytes) -> bytes:
    """Base64 in lines of 76 characters (RFC 2045 6.8), CRLF between them."""
    encoded = binascii.b2a_base64(data, newline=False)
    return b"\r\n".join([encoded[start : start + 76] for start in range(0, len(encoded), 76)])


def _multipart(subtype: str, boundary: str, parts: list[bytes]) -> bytes:
    """A multipart entity, headers included. Each delimiter begins with the CRLF that ends
    the line before it, so a part keeps its own final line break."""
    head = f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\n--{boundary}\r\n'
    delimiter = f"\r\n--{boundary}\r\n".encode("ascii")
    return head.encode("ascii") + delimiter.join(parts) + f"\r\n--{boundary}--".encode("ascii")
