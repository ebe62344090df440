"""The email as it goes on the wire: whatever the subject, names, bodies and attachments,
a reader parses back exactly what was sent, from 7-bit lines that end in CRLF and stay
within the RFC 5322 limits; and it reads the same as the message the stdlib's
`EmailMessage` used to build."""

from __future__ import annotations

import email
import email.policy
import re
from email.header import decode_header
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketplace.notifications.channels import Attachment, OutgoingEmail, PermanentFailure
from marketplace.notifications.channels.mime import envelope_address, message_bytes
from marketplace.platform.clock import utcnow

SENDER = "shop@shop.test"


def _email(subject: str = "Hallo", **overrides: object) -> OutgoingEmail:
    values: dict[str, object] = {
        "message_id": "<ndl_1@shop.test>",
        "to": "anna@example.com",
        "subject": subject,
        "text": "Hallo\n",
        "html": "<p>Hallo</p>",
        "language": "de",
    }
    values.update(overrides)
    return OutgoingEmail(**values)  # type: ignore[arg-type]


def _parse(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _parsed(message: OutgoingEmail, sender_name: str = "Shop") -> EmailMessage:
    return _parse(message_bytes(message, sender=SENDER, sender_name=sender_name))


def _content(parsed: EmailMessage, subtype: str) -> str | None:
    part = parsed.get_body(preferencelist=(subtype,))
    return None if part is None else str(part.get_content())  # type: ignore[attr-defined]


def _attachments(parsed: EmailMessage) -> list[tuple[str | None, str, bytes]]:
    return [
        (a.get_filename(), a.get_content_type(), a.get_payload(decode=True))  # type: ignore[misc]
        for a in parsed.iter_attachments()
    ]


def _as_sent(text: str) -> str:
    """What a reader gets back for a text body: every line break (CRLF, CR or LF) a CRLF,
    and one at the end (the stdlib's `EmailMessage` made them so too)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return (text if text.endswith("\n") else text + "\n").replace("\n", "\r\n")


def test_a_long_accented_subject_arrives_unchanged_in_words_of_at_most_75_characters() -> None:
    subject = "Votre retour pour la commande ord_01M8YWBP32FGYKNY6XG9Y6V9VW a été accepté"
    raw = message_bytes(_email(subject), sender=SENDER, sender_name="Shop")

    assert _parse(raw)["Subject"] == subject
    header = raw.split(b"\r\nDate:")[0].split(b"Subject: ")[1]
    assert header == (
        b"=?utf-8?q?Votre_retour_pour_la_commande_ord=5F01M8YWBP32FGYKNY6XG9Y?=\r\n"
        b" =?utf-8?q?6V9VW_a_=C3=A9t=C3=A9_accept=C3=A9?="
    )


def test_alternatives_attachment_and_unsubscribe_headers() -> None:
    parsed = _parsed(
        _email(
            "Receipt",
            attachments=(Attachment("r.pdf", "application/pdf", b"%PDF-1.4"),),
            unsubscribe_url="https://api.test/v1/notifications/unsubscribe?token=t",
        )
    )

    assert parsed["Message-ID"] == "<ndl_1@shop.test>"
    assert parsed["Content-Language"] == "de"
    assert parsed["List-Unsubscribe"] == "<https://api.test/v1/notifications/unsubscribe?token=t>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert [part.get_content_type() for part in parsed.walk()] == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "application/pdf",
    ]
    assert _content(parsed, "plain") == "Hallo\r\n"
    assert _content(parsed, "html") == "<p>Hallo</p>\r\n"
    assert _attachments(parsed) == [("r.pdf", "application/pdf", b"%PDF-1.4")]


def test_a_text_only_message_is_one_quoted_printable_part() -> None:
    text = "Grüße aus Köln,\nund vielen Dank für Ihre Bestellung. \n"
    raw = message_bytes(_email(html=None, text=text), sender=SENDER, sender_name="Shop")

    assert raw.endswith(
        b'\r\nContent-Type: text/plain; charset="utf-8"\r\n'
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"Gr=C3=BC=C3=9Fe aus K=C3=B6ln,\r\nund vielen Dank f=C3=BCr Ihre Bestellung.=20\r\n"
    )
    assert _content(_parse(raw), "plain") == text.replace("\n", "\r\n")


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Votre commande a été expédiée.\n", "quoted-printable"),
        ("Ваш заказ отправлен.\n", "base64"),  # quoted-printable would triple it
        ("ご注文の商品を発送しました。\n", "base64"),
    ],
)
def test_text_is_quoted_printable_unless_base64_is_smaller(text: str, encoding: str) -> None:
    parsed = _parsed(_email(html=None, text=text))

    assert parsed["Content-Transfer-Encoding"] == encoding
    assert _content(parsed, "plain") == text.replace("\n", "\r\n")


def test_a_display_name_too_long_for_one_encoded_word_decodes_without_added_spaces() -> None:
    name = "Boutique des Créateurs Indépendants de Montréal et des Environs"
    raw = message_bytes(_email(), sender=SENDER, sender_name=name)

    assert raw.startswith(
        b"From: =?utf-8?q?Boutique_des_Cr=C3=A9ateurs_Ind=C3=A9pendants_de_Montr=C3=A9?=\r\n"
        b" =?utf-8?q?al_et_des_Environs?= <shop@shop.test>\r\n"
    )
    assert _from_display_name(raw) == name
    # Python 3.11's address parser keeps the folding space between the two words (CPython
    # gh-128110, fixed later); RFC 2047 6.2 readers drop it, as `decode_header` does.
    assert _parse(raw)["From"].addresses[0].addr_spec == SENDER


@pytest.mark.parametrize(
    "overrides",
    [
        {"subject": "Hallo\r\nBcc: eve@example.com"},
        {"to": "anna@example.com\nBcc: eve@example.com"},
        {"to": "änna@example.com"},  # needs SMTPUTF8
        {"attachments": (Attachment("a.pdf", "application/pdf; name=a.pdf", b""),)},
        {"attachments": (Attachment("a.eml", "message/rfc822", b""),)},
        {"headers": {"Subject": "again"}},
        {"headers": {"X-Bad Name": "value"}},
    ],
)
def test_what_cannot_be_written_faithfully_fails_permanently(overrides: dict[str, object]) -> None:
    with pytest.raises(PermanentFailure):
        message_bytes(_email(**overrides), sender=SENDER, sender_name="Shop")


def test_an_internationalized_domain_is_sent_in_its_ascii_form() -> None:
    parsed = _parsed(_email(to="anna@bücher.de"))

    assert parsed["To"].addresses[0].addr_spec == "anna@xn--bcher-kva.de"
    assert envelope_address("anna@bücher.de") == "anna@xn--bcher-kva.de"
    assert envelope_address("anna@example.com") == "anna@example.com"
    assert envelope_address("änna@example.com") == "änna@example.com"  # refused by the check


# Any message


def _text(max_size: int) -> st.SearchStrategy[str]:
    """Unicode text (no lone surrogates: they cannot be UTF-8) with more of the characters
    that matter to encoders: spaces, "=", "?", "_", quotes, backslashes."""
    return st.text(
        alphabet=st.one_of(
            st.sampled_from(' =?_"\\-.abcXYZ'),
            st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
        ),
        max_size=max_size,
    )


_ascii_words = st.lists(
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1),
    max_size=40,
).map(" ".join)
_header_text = st.one_of(_text(300), _ascii_words, st.sampled_from(["", " ", "é" * 300]))
_line = st.one_of(
    _text(200),
    st.sampled_from(["From here", "From ", ".", "..", " ", "=", "=_", "--=_", "\t", "x "]),
    st.integers(990, 1100).map(lambda n: ("aé " * n)[:n]),  # past 998 bytes
)
_body = st.lists(st.tuples(_line, st.sampled_from(["\n", "\r\n", "\r", ""])), max_size=12).map(
    lambda lines: "".join(line + end for line, end in lines)
)
_attachment = st.builds(
    Attachment,
    filename=st.one_of(
        _text(120).filter(bool),
        st.sampled_from(
            [
                "receipt-ord_42.pdf",
                'say "hi"; a\\b.pdf',
                "statement-" + "x" * 100 + ".pdf",  # ASCII, too long for one line
                "Kontoauszug März 2026 \u2013 Müller & Söhne GmbH, Köln-Ehrenfeld.pdf",
            ]
        ),
    ),
    content_type=st.sampled_from(["application/pdf", "text/csv", "image/png", "application"]),
    data=st.binary(max_size=3000),
)
_outgoing = st.builds(
    OutgoingEmail,
    message_id=st.from_regex(r"<ndl_[0-9A-Z]{26}@shop\.test>", fullmatch=True),
    to=st.emails(),
    subject=_header_text,
    text=_body,
    html=st.one_of(st.none(), _body),
    language=st.sampled_from(["de", "fr-CH", "en"]),
    attachments=st.lists(_attachment, max_size=3).map(tuple),
    unsubscribe_url=st.one_of(
        st.none(),
        st.from_regex(
            r"https://api\.test/v1/notifications/unsubscribe\?token=[A-Za-z0-9_-]{1,200}",
            fullmatch=True,
        ),
    ),
    headers=st.dictionaries(st.sampled_from(["X-Campaign", "X-Entity-Ref-ID"]), _header_text),
)
# A bare type is sent as "<type>/octet-stream", as `EmailMessage.add_attachment` did.
_READ_AS = {"application": "application/octet-stream"}
# Lines that cannot be folded: an address, an id, a URL.
_UNFOLDABLE = (b"To: ", b"Message-ID: ", b"List-Unsubscribe: ")


@settings(max_examples=200, deadline=None)
@given(message=_outgoing, sender_name=_header_text)
def test_any_message_parses_back_to_what_was_sent(message: OutgoingEmail, sender_name: str) -> None:
    raw = message_bytes(message, sender=SENDER, sender_name=sender_name)
    parsed = _parse(raw)

    # 7-bit CRLF lines within the limits.
    assert raw.isascii()
    assert raw.endswith(b"\r\n")
    lines = raw[:-2].split(b"\r\n")
    assert not any(b"\r" in line or b"\n" in line for line in lines)
    assert max(len(line) for line in lines) <= 998
    boundaries = [part.get_boundary() for part in parsed.walk() if part.is_multipart()]
    header_blocks = [raw.split(b"\r\n\r\n", 1)[0]] + [
        part.split(b"\r\n\r\n", 1)[0]
        for boundary in boundaries
        for part in raw.split(f"--{boundary}\r\n".encode())[1:]
    ]
    assert all(
        len(line) <= 78
        for block in header_blocks
        for line in block.split(b"\r\n")
        if not line.startswith(_UNFOLDABLE)
    )
    words = re.findall(rb"=\?[^?]*\?[bq]\?[^?]*\?=", b"\r\n".join(header_blocks), re.I)
    assert all(len(word) <= 75 for word in words)

    # Each boundary only in its parameter and its delimiter lines: never in a body.
    for part in parsed.walk():
        if part.is_multipart():
            delimiters = len(part.get_payload()) + 1  # one before each part, one closing
            boundary = str(part.get_boundary()).encode()
            assert raw.count(b"--" + boundary) == delimiters
            assert raw.count(boundary) == delimiters + 1

    # The same message.
    assert parsed["Subject"] == message.subject
    assert _from_display_name(raw) == sender_name
    # Python 3.11's address parser adds a space between encoded words (see the long display
    # name test) and folds runs of whitespace inside one (spaces, tabs, form feeds...) to a
    # single space.
    if len(sender_name.encode()) <= 40 and not re.search(r"[^\S ]|  ", sender_name):
        assert parsed["From"].addresses[0].display_name == sender_name
    assert parsed["From"].addresses[0].addr_spec == SENDER
    assert parsed["To"].addresses[0].addr_spec == message.to
    assert parsed["Message-ID"] == message.message_id
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["Content-Language"] == message.language
    if message.unsubscribe_url:
        assert parsed["List-Unsubscribe"] == f"<{message.unsubscribe_url}>"
        assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    else:
        assert (parsed["List-Unsubscribe"], parsed["List-Unsubscribe-Post"]) == (None, None)
    for name, value in message.headers.items():
        assert parsed[name] == value
    assert parsed["Date"].datetime is not None
    assert _content(parsed, "plain") == _as_sent(message.text)
    assert _content(parsed, "html") == (_as_sent(message.html) if message.html else None)
    # (get_filename() strips surrounding whitespace, however the name was encoded.)
    assert _attachments(parsed) == [
        (a.filename.strip(), _READ_AS.get(a.content_type, a.content_type), a.data)
        for a in message.attachments
    ]


def _from_display_name(raw: bytes) -> str:
    """The From display name as RFC 2047 6.2 reads it: the whitespace between two encoded
    words is not part of the text (`email.header.decode_header` follows that rule)."""
    header = raw.split(b"\r\nTo: ", 1)[0].removeprefix(b"From: ").replace(b"\r\n", b"")
    if header == SENDER.encode():
        return ""
    phrase = header.decode("ascii").removesuffix(f" <{SENDER}>")
    if phrase.startswith('"'):
        return re.sub(r"\\(.)", r"\1", phrase[1:-1])
    return "".join(
        text.decode(charset or "ascii") if isinstance(text, bytes) else text
        for text, charset in decode_header(phrase)
    )


# The message the stdlib's EmailMessage built before, for comparison


def _stdlib_bytes(message: OutgoingEmail, *, sender_name: str) -> bytes:
    built = EmailMessage()
    built["From"] = formataddr((sender_name, SENDER))
    built["To"] = message.to
    built["Subject"] = message.subject
    built["Date"] = format_datetime(utcnow())
    built["Message-ID"] = message.message_id
    built["Auto-Submitted"] = "auto-generated"
    if message.unsubscribe_url:
        built["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
        built["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    built.set_content(message.text)
    if message.html:
        built.add_alternative(message.html, subtype="html")
    for attachment in message.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        built.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    built["Content-Language"] = message.language
    return built.as_bytes(policy=email.policy.SMTP.clone(max_line_length=998))


def _semantics(raw: bytes) -> dict[str, object]:
    parsed = _parse(raw)
    text, html = _content(parsed, "plain"), _content(parsed, "html")
    return {
        "headers": {
            name: str(parsed[name])
            for name in (
                "From",
                "To",
                "Subject",
                "Message-ID",
                "Auto-Submitted",
                "List-Unsubscribe",
                "List-Unsubscribe-Post",
                "Content-Language",
                "MIME-Version",
            )
        },
        "structure": [part.get_content_type() for part in parsed.walk()],
        # The stdlib's base64 text bodies decoded with LF line breaks, its other ones
        # with CRLF; a mail client shows both as line breaks.
        "text": text and text.replace("\r\n", "\n"),
        "html": html and html.replace("\r\n", "\n"),
        "attachments": _attachments(parsed),
    }


_PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


@pytest.mark.parametrize(
    ("message", "sender_name"),
    [
        (_email("Ihre Bestellung ord_1 ist bestätigt", html=None, text="Hallo Anna,\n"), "Shop"),
        (
            _email(
                "Ihre Bestellung ord_01M8YWBP32FGYKNY6XG9Y6V9VW ist bestätigt",
                text="Hallo Anna,\n\nWir haben Ihre Zahlung über 58,90\xa0€ erhalten.\n"
                + "  - 2 x Teapot (30,00\xa0€)\n" * 30,
                html="<p>Hallo Anna,</p>\n<table>" + "<tr><td>Teapot</td></tr>" * 40 + "</table>",
                unsubscribe_url="https://api.test/v1/notifications/unsubscribe?token=" + "t" * 80,
            ),
            "Marketplace",
        ),
        (
            _email(
                "Le reçu de votre commande ord_42",
                html=None,
                text="Le reçu de votre commande ord_42 est joint en PDF.\n",
                language="fr",
                attachments=(Attachment("receipt-ord_42.pdf", "application/pdf", _PDF),),
            ),
            "Café, Boutique",
        ),
        (
            _email(
                "Ваш заказ ord_7 подтверждён",
                text="Здравствуйте!\r\n" + "Спасибо за заказ. " * 40 + "\r\n",
                html="<p>Здравствуйте!</p>",
                language="ru",
                attachments=(
                    Attachment("выписка-2026-05.pdf", "application/pdf", _PDF),
                    Attachment("statement.csv", "text/csv", b"a,b\r\n1,2\r\n"),
                ),
            ),
            'Shop "Nord"',
        ),
    ],
)
def test_it_reads_as_the_stdlib_built_message_did(message: OutgoingEmail, sender_name: str) -> None:
    ours = message_bytes(message, sender=SENDER, sender_name=sender_name)
    stdlib = _stdlib_bytes(message, sender_name=sender_name)

    assert _semantics(ours) == _semantics(stdlib)
