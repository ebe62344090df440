"""Rendering messages from Jinja2 templates, per language.

Each kind has `email/<kind>.txt.j2` with three blocks: `subject`, `summary` (one line: the
in-app title and the SMS text) and `body` (the plain-text email), and optionally
`email/<kind>.html.j2` (otherwise the HTML shows the text's paragraphs). Strings are English
in the templates and translated through `i18n/<lang>.json` catalogs (gettext style, one
catalog per language); a string missing from a catalog falls back to English, so a new
template never breaks a language. Money is formatted for the recipient's language.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from babel import Locale
from jinja2 import (
    Environment,
    PackageLoader,
    StrictUndefined,
    Template,
    TemplateNotFound,
    select_autoescape,
)
from markupsafe import Markup

from marketplace.notifications.domain import DEFAULT_LANGUAGE, LANGUAGES
from marketplace.platform.money import Money

_LOCALES = {"en": "en_US", "de": "de_DE", "fr": "fr_FR"}


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    summary: str
    text: str
    html: str


@cache
def _catalog(language: str) -> dict[str, str]:
    if language == DEFAULT_LANGUAGE:
        return {}
    path = resources.files(__package__).joinpath("i18n", f"{language}.json")
    loaded: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


@cache
def _environment(language: str) -> Environment:
    env = Environment(
        loader=PackageLoader("marketplace.notifications", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=False,
        keep_trailing_newline=False,
        # Templates ship with the package and never change under a running process: no
        # modification-time check of the file on every lookup.
        auto_reload=False,
    )
    catalog = _catalog(language)

    def gettext(message: str) -> str:
        return catalog.get(message, message)

    def ngettext(singular: str, plural: str, n: int) -> str:
        return gettext(singular if n == 1 else plural)

    env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    return env


@cache
def _html_template(language: str, kind: str) -> Template | None:
    """The kind's own HTML template, or None (Jinja caches what it found, not what it did
    not: without this, every render of such a kind would search the package again)."""
    try:
        return _environment(language).get_template(f"email/{kind}.html.j2")
    except TemplateNotFound:
        return None


@cache
def _money_formatter(language: str) -> Any:
    def money(value: Any) -> str:
        if isinstance(value, dict):
            return _format_money(language, int(value["amount"]), str(value["currency"]))
        if isinstance(value, Money):
            return _format_money(language, value.amount, value.currency)
        raise TypeError(f"not money: {value!r}")

    return money


@cache
def _locale(language: str) -> Locale:
    # Parsed once per language: Money.format takes a Locale as well as its name.
    return Locale.parse(_LOCALES.get(language, "en_US"))


@lru_cache(maxsize=4096)
def _format_money(language: str, amount: int, currency: str) -> str:
    """Babel's formatting is most of a small message's rendering, and a message shows the
    same amount several times (subject, summary, text and HTML bodies): the result is a
    pure function of its arguments, kept for the amounts seen lately."""
    return Money(amount, currency).format(_locale(language))


def _one_line(text: str) -> str:
    # Not str.split(): it would also break the no-break spaces money formats put before "€".
    return re.sub(r"[ \t\r\n]+", " ", text).strip()


def render(
    kind: str,
    language: str,
    context: dict[str, Any],
    *,
    site_name: str,
    recipient_name: str,
    unsubscribe_url: str | None,
) -> Rendered:
    """Render one message of `kind` for one recipient in `language` (English if unknown)."""
    if language not in LANGUAGES:
        language = DEFAULT_LANGUAGE
    env = _environment(language)
    variables = {
        **context,
        "lang": language,
        "money": _money_formatter(language),
        "site_name": site_name,
        "recipient_name": recipient_name,
        "unsubscribe_url": unsubscribe_url,
    }
    template = env.get_template(f"email/{kind}.txt.j2")
    # One context for the three blocks: a block cannot change it (assignments in a block
    # stay in the block), and building it copies the variables.
    block_context = template.new_context(variables)
    blocks = {
        name: "".join(template.blocks[name](block_context)).strip()
        for name in ("subject", "summary", "body")
    }
    text = env.get_template("email/_layout.txt.j2").render(body=blocks["body"], **variables)
    html_template = _html_template(language, kind)
    if html_template is not None:
        content = html_template.render(**variables)
    else:
        paragraphs = [p.strip() for p in blocks["body"].split("\n\n") if p.strip()]
        content = env.get_template("email/_generic.html.j2").render(paragraphs=paragraphs)
    html = env.get_template("email/_layout.html.j2").render(
        # Rendered by our own autoescaping templates: already safe HTML.
        content=Markup(content),
        subject=blocks["subject"],
        **variables,
    )
    return Rendered(
        subject=_one_line(blocks["subject"]),
        summary=_one_line(blocks["summary"]),
        text=text.strip() + "\n",
        html=html,
    )
