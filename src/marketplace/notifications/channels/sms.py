"""SMS through Twilio's Messages API with the official SDK, and phone number validation.

The SDK is synchronous (requests), so a send runs in a thread. `api_base_url` replaces
`https://api.twilio.com` (an egress proxy, or a local server in tests); the request and
its Basic auth are the SDK's own. Twilio has no idempotency key for message creation, so an
SMS is at least once like email (see the delivery trade-off in `service/dispatch.py`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

import phonenumbers
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from marketplace.notifications.channels.base import (
    DeliveryFailed,
    OutgoingSms,
    PermanentFailure,
)

logger = logging.getLogger(__name__)


class InvalidPhoneNumber(ValueError):
    pass


def normalize_number(raw: str) -> str:
    """E.164 (`+4915112345678`) for a valid international number; a number without a
    country code is refused rather than guessed."""
    try:
        parsed = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException as error:
        raise InvalidPhoneNumber("not a phone number in international format (+...)") from error
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber("not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class SmsSender(Protocol):
    async def send(self, sms: OutgoingSms) -> str: ...


class TwilioSms:
    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        api_base_url: str | None = None,
        timeout: float = 15.0,
    ) -> None:
        self.client = Client(account_sid, auth_token)
        if api_base_url:
            self.client.api.base_url = api_base_url.rstrip("/")
        self.from_number = from_number
        self.messaging_service_sid = messaging_service_sid
        self.timeout = timeout

    def _create(self, sms: OutgoingSms) -> str:
        kwargs: dict[str, str] = {"to": sms.to, "body": sms.body}
        if self.messaging_service_sid:
            kwargs["messaging_service_sid"] = self.messaging_service_sid
        elif self.from_number:
            kwargs["from_"] = self.from_number
        message = self.client.messages.create(**kwargs)
        return str(message.sid)

    async def send(self, sms: OutgoingSms) -> str:
        try:
            return await asyncio.wait_for(asyncio.to_thread(self._create, sms), self.timeout)
        except TwilioRestException as error:
            # 4xx: Twilio refused this message (invalid or unreachable number, opted out):
            # sending it again fails the same way. 429 and 5xx are worth retrying.
            if 400 <= error.status < 500 and error.status != 429:
                raise PermanentFailure(
                    f"twilio {error.status} {error.code}: {error.msg}"
                ) from error
            raise DeliveryFailed(f"twilio {error.status}: {error.msg}") from error
        except (TwilioException, OSError, TimeoutError) as error:
            raise DeliveryFailed(f"{type(error).__name__}: {error}") from error


class LogSms:
    """SMS switched off: nothing is sent; kept so a misconfiguration is visible in the log."""

    async def send(self, sms: OutgoingSms) -> str:
        logger.info("SMS not sent: SMS is not configured", extra={"to": sms.to})
        return f"log:{sms.idempotency_key}"
