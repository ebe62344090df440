"""A user's notification preferences: per category and channel, the SMS number, and the
one-click unsubscribe from an email link."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from marketplace.notifications import repository as repo
from marketplace.notifications.channels.sms import InvalidPhoneNumber, normalize_number
from marketplace.notifications.domain import (
    CATEGORIES,
    KINDS,
    PERSONAL_CHANNELS,
    read_unsubscribe_token,
)
from marketplace.notifications.errors import InvalidUnsubscribeToken
from marketplace.platform.clock import utcnow
from marketplace.platform.errors import ValidationFailed
from marketplace.platform.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class ChannelChoice:
    category: str
    channel: str
    enabled: bool


@dataclass(frozen=True, slots=True)
class CategoryView:
    name: str
    description: str
    transactional: bool
    channels: dict[str, bool]


@dataclass(frozen=True, slots=True)
class PreferencesView:
    categories: list[CategoryView]
    sms_number: str | None


def _sms_capable(category: str) -> bool:
    return any(k.sms for k in KINDS.values() if k.category == category)


async def get_preferences(uow: UnitOfWork, *, user_id: str) -> PreferencesView:
    stored = {
        (p.category, p.channel): p.enabled for p in await repo.preferences(uow.session, [user_id])
    }
    profile = (await repo.profiles(uow.session, [user_id])).get(user_id)
    categories = []
    for category in CATEGORIES.values():
        channels: dict[str, bool] = {}
        for channel in PERSONAL_CHANNELS:
            if channel == "sms" and not _sms_capable(category.name):
                continue
            if category.transactional and channel != "sms":
                channels[channel] = True  # cannot be switched off
            else:
                channels[channel] = stored.get((category.name, channel), channel != "sms")
        categories.append(
            CategoryView(category.name, category.description, category.transactional, channels)
        )
    return PreferencesView(categories, profile.sms_number if profile else None)


async def put_preferences(
    uow: UnitOfWork,
    *,
    user_id: str,
    choices: Sequence[ChannelChoice],
    sms_number: str | None,
    sms_number_given: bool,
) -> PreferencesView:
    """Validate everything first (422 naming the field, nothing changed), then store."""
    for index, choice in enumerate(choices):
        loc: list[str | int] = ["body", "preferences", index]
        category = CATEGORIES.get(choice.category)
        if category is None:
            raise ValidationFailed.on_field([*loc, "category"], "unknown category")
        if choice.channel not in PERSONAL_CHANNELS:
            raise ValidationFailed.on_field([*loc, "channel"], "unknown channel")
        if choice.channel == "sms" and not _sms_capable(choice.category):
            raise ValidationFailed.on_field([*loc, "channel"], "this category has no SMS messages")
        if category.transactional and choice.channel != "sms" and not choice.enabled:
            raise ValidationFailed.on_field(
                [*loc, "enabled"],
                f"{choice.category} messages are transactional and cannot be turned off",
                "transactional",
            )
    number = None
    if sms_number_given and sms_number:
        try:
            number = normalize_number(sms_number)
        except InvalidPhoneNumber as error:
            raise ValidationFailed.on_field(["body", "sms_number"], str(error)) from None
    now = utcnow()
    for choice in choices:
        await repo.set_preference(
            uow.session,
            user_id=user_id,
            category=choice.category,
            channel=choice.channel,
            enabled=choice.enabled,
            now=now,
        )
    if sms_number_given:
        await repo.set_sms_number(uow.session, user_id=user_id, number=number, now=now)
    return await get_preferences(uow, user_id=user_id)


async def unsubscribe(uow: UnitOfWork, *, secret: bytes, token: str) -> tuple[str, str]:
    """Turn off email for the token's category (idempotent). Transactional categories never
    carry a link, so a token for one is refused."""
    parsed = read_unsubscribe_token(secret, token)
    if parsed is None or CATEGORIES[parsed[1]].transactional:
        raise InvalidUnsubscribeToken.on_field(
            ["query", "token"], "this unsubscribe link is not valid", "invalid_unsubscribe_token"
        )
    user_id, category = parsed
    await repo.set_preference(
        uow.session,
        user_id=user_id,
        category=category,
        channel="email",
        enabled=False,
        now=utcnow(),
    )
    return user_id, category
