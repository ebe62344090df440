"""Banking rules for payout accounts: IBAN, US ABA routing and account numbers, payout
wallets, and how an account number is masked for display.

Pure functions: each takes what a vendor typed, returns the normalised value to store, or
raises :class:`BankDetailError` with a message precise enough to show the vendor. Checks are
structural (format, length, check digits); whether the account exists is for the payout
provider to find out.
"""

from __future__ import annotations

import re
from typing import Final, Literal

from email_validator import EmailNotValidError, validate_email

__all__ = [
    "IBAN_LENGTHS",
    "WALLET_PROVIDERS",
    "BankDetailError",
    "BankField",
    "mask_account",
    "validate_aba_routing",
    "validate_account_number",
    "validate_iban",
    "validate_wallet",
]

BankField = Literal["iban", "account_number", "routing_number", "wallet_provider", "wallet_id"]


class BankDetailError(ValueError):
    """A bank or wallet detail is malformed; `field` names the input it is about."""

    def __init__(self, message: str, *, field: BankField) -> None:
        super().__init__(message)
        self.field: BankField = field


# IBAN length per country: every one of the 89 countries in the SWIFT IBAN Registry (ISO
# 13616) as of 2024. Territories that use their parent's IBAN (Åland: FI, Jersey: GB, French
# overseas departments: FR) are covered by that entry. Countries that only appear in
# unofficial "experimental" lists (Algeria, Morocco, ...) are left out on purpose: a bank
# there cannot be paid by IBAN through the SWIFT/SEPA rails our payout providers use.
IBAN_LENGTHS: Final[dict[str, int]] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24,
    "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
    "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
    "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20,
    "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20,
    "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
    "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
    "YE": 30,
}  # fmt: skip

# People paste numbers the way their bank prints them ("DE89 3704 0044 ..."); spaces and
# hyphens are presentation, never part of the number.
_SEPARATORS_RE: Final = re.compile(r"[\s-]+")
_ALNUM_RE: Final = re.compile(r"[A-Z0-9]+")
_COUNTRY_RE: Final = re.compile(r"[A-Z]{2}")
_DIGITS_RE: Final = re.compile(r"[0-9]+")
_IBAN_MAX_LENGTH: Final = 34
_MASK: Final = "****"


def _compact(value: str) -> str:
    return _SEPARATORS_RE.sub("", value)


def _iban_mod97(iban: str) -> int:
    # ISO 7064 MOD 97-10: the first four characters move to the end, letters become 10..35,
    # and the resulting integer must leave 1 when divided by 97.
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97


def validate_iban(value: str) -> str:
    """Return the IBAN in its electronic form (uppercase, no spaces), or raise.

    Checks, in order: only letters and digits; a country in the IBAN registry; that
    country's exact length; check digits 02-98 (ISO 13616 never issues 00, 01 or 99, and
    99 would pass the arithmetic in place of 02); and the MOD 97-10 checksum.
    """
    iban = _compact(value).upper()
    if not iban:
        raise BankDetailError("IBAN is empty", field="iban")
    if _ALNUM_RE.fullmatch(iban) is None:
        raise BankDetailError("IBAN must contain only letters and digits", field="iban")
    if len(iban) > _IBAN_MAX_LENGTH:
        raise BankDetailError(f"IBAN must be at most {_IBAN_MAX_LENGTH} characters", field="iban")
    country = iban[:2]
    if _COUNTRY_RE.fullmatch(country) is None:
        raise BankDetailError("IBAN must start with a two-letter country code", field="iban")
    expected = IBAN_LENGTHS.get(country)
    if expected is None:
        raise BankDetailError(
            f"IBAN country code {country} is not in the IBAN registry", field="iban"
        )
    if len(iban) != expected:
        raise BankDetailError(f"IBAN for {country} must be {expected} characters", field="iban")
    check_digits = iban[2:4]
    if not check_digits.isdigit() or not 2 <= int(check_digits) <= 98:
        raise BankDetailError("IBAN check digits must be two digits from 02 to 98", field="iban")
    if _iban_mod97(iban) != 1:
        raise BankDetailError("IBAN checksum is wrong", field="iban")
    return iban


# The first two digits of an ABA routing number name a Federal Reserve district: 01-12 for
# banks, 21-32 for thrifts, 61-72 for electronic transfers, 80 for traveller's cheques.
# 00 (the US Treasury) and anything else is not an account a vendor gets paid into; the range
# check also rejects 000000000, which passes the checksum.
_ABA_PREFIXES: Final = frozenset([*range(1, 13), *range(21, 33), *range(61, 73), 80])
_ABA_WEIGHTS: Final = (3, 7, 1, 3, 7, 1, 3, 7, 1)


def validate_aba_routing(value: str) -> str:
    """Return the 9-digit ABA routing number, or raise.

    The check digit makes 3·(d1+d4+d7) + 7·(d2+d5+d8) + (d3+d6+d9) a multiple of 10.
    """
    routing = _compact(value)
    if len(routing) != 9 or _DIGITS_RE.fullmatch(routing) is None:
        raise BankDetailError("routing number must be exactly 9 digits", field="routing_number")
    if int(routing[:2]) not in _ABA_PREFIXES:
        raise BankDetailError(
            f"routing number cannot start with {routing[:2]}: not a Federal Reserve district",
            field="routing_number",
        )
    if sum(int(d) * w for d, w in zip(routing, _ABA_WEIGHTS, strict=True)) % 10:
        raise BankDetailError("routing number checksum is wrong", field="routing_number")
    return routing


def validate_account_number(value: str, country: str) -> str:
    """Return a domestic account number (for countries without IBAN, or US accounts), or raise.

    US: 4 to 17 digits (the range US banks issue; NACHA allows 17). Elsewhere: 4 to 34 letters
    and digits (34 is the longest BBAN the IBAN standard allows), uppercased.
    """
    code = country.strip().upper()
    if _COUNTRY_RE.fullmatch(code) is None:
        raise BankDetailError(
            f"account country must be a two-letter ISO 3166 code, got {country!r}",
            field="account_number",
        )
    number = _compact(value).upper()
    if code == "US":
        if _DIGITS_RE.fullmatch(number) is None or not 4 <= len(number) <= 17:
            raise BankDetailError(
                "account number must be 4 to 17 digits for US accounts", field="account_number"
            )
        return number
    if _ALNUM_RE.fullmatch(number) is None or not 4 <= len(number) <= 34:
        raise BankDetailError(
            "account number must be 4 to 34 letters and digits", field="account_number"
        )
    return number


# Payout wallets and what identifies a vendor's account with each:
# - paypal: the email address of the PayPal account (Payouts API, recipient_type EMAIL);
# - wise: the recipient account id or Wisetag handle: 4-40 letters and digits;
# - payoneer: the payee id: 4-20 digits;
# - stripe: a Stripe Connect account id, `acct_` and 8-64 letters and digits.
WALLET_PROVIDERS: Final = ("paypal", "wise", "payoneer", "stripe")
_WISE_RE: Final = re.compile(r"[A-Za-z0-9]{4,40}")
_PAYONEER_RE: Final = re.compile(r"[0-9]{4,20}")
_STRIPE_RE: Final = re.compile(r"acct_[A-Za-z0-9]{8,64}")


def validate_wallet(provider: str, wallet_id: str) -> tuple[str, str]:
    """Return `(provider, wallet_id)` normalised, or raise.

    Providers are matched case-insensitively and returned lowercase. PayPal addresses are
    lowercased (PayPal matches them case-insensitively); Stripe and Wise ids keep their case,
    because Stripe's are case-sensitive.
    """
    name = provider.strip().lower()
    if name not in WALLET_PROVIDERS:
        raise BankDetailError(
            f"wallet provider {provider!r} is not supported: use {', '.join(WALLET_PROVIDERS)}",
            field="wallet_provider",
        )
    ident = wallet_id.strip()
    if name == "paypal":
        try:
            email = validate_email(ident, check_deliverability=False)
        except EmailNotValidError as error:
            raise BankDetailError(
                f"PayPal wallet id must be an email address: {error}", field="wallet_id"
            ) from None
        return name, email.normalized.lower()
    if name == "wise" and _WISE_RE.fullmatch(ident) is None:
        raise BankDetailError(
            "Wise wallet id must be 4 to 40 letters and digits", field="wallet_id"
        )
    if name == "payoneer" and _PAYONEER_RE.fullmatch(ident) is None:
        raise BankDetailError("Payoneer wallet id must be 4 to 20 digits", field="wallet_id")
    if name == "stripe" and _STRIPE_RE.fullmatch(ident) is None:
        raise BankDetailError(
            "Stripe wallet id must be a connected account id such as acct_1032D82eZvKYlo2C",
            field="wallet_id",
        )
    return name, ident


def mask_account(value: str) -> str:
    """`****` plus the last four characters (`****3000`), the way people recognise accounts.

    Spaces and hyphens are ignored. A value of four characters or fewer would be shown whole
    by its "last four", so it masks to `****` alone (the audit log masks the same way).
    """
    compact = _compact(value)
    return _MASK + compact[-4:] if len(compact) > 4 else _MASK
