"""The MIME message as it goes on the wire: headers survive folding, alternatives and
attachments are in place, optional mail carries one-click unsubscribe headers."""

from __future__ import annotations

import email
import email.policy

from hypothesis import given
from hypothesis import strategies as st

from marketplace.notifications.channels import Attachment, OutgoingEmail
from marketplace.notifications.channels.email import build_message, to_bytes


def _email(subject: str, **overrides: object) -> OutgoingEmail:
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


def _parsed(message: OutgoingEmail) -> email.message.EmailMessage:
    raw = to_bytes(build_message(message, sender="shop@shop.test", sender_name="Shop"))
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def test_a_long_accented_subject_arrives_unchanged() -> None:
    subject = "Votre retour pour la commande ord_01M8YWBP32FGYKNY6XG9Y6V9VW a été accepté"
    assert _parsed(_email(subject))["Subject"] == subject


@given(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")),
        min_size=1,
        max_size=300,
    ).map(lambda s: " ".join(s.split()) or "x")
)
def test_any_subject_up_to_300_characters_arrives_unchanged(subject: str) -> None:
    assert _parsed(_email(subject))["Subject"] == subject


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
    text = parsed.get_body(preferencelist=("plain",))
    html = parsed.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    assert text.get_content() == "Hallo\r\n"  # type: ignore[attr-defined]  # SMTP line ends
    assert html.get_content() == "<p>Hallo</p>\r\n"  # type: ignore[attr-defined]
    [attachment] = list(parsed.iter_attachments())
    assert (attachment.get_filename(), attachment.get_content()) == ("r.pdf", b"%PDF-1.4")  # type: ignore[attr-defined]
