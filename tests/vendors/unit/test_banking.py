"""Banking details: IBAN (registry lengths, check digits, MOD 97-10), ABA routing numbers,
domestic account numbers, payout wallets, and masking."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketplace.vendors.domain.banking import (
    IBAN_LENGTHS,
    WALLET_PROVIDERS,
    BankDetailError,
    mask_account,
    validate_aba_routing,
    validate_account_number,
    validate_iban,
    validate_wallet,
)

# Examples published in the SWIFT IBAN registry and by the banks themselves.
VALID_IBANS = [
    "DE89370400440532013000",
    "GB82WEST12345698765432",
    "FR1420041010050500013M02606",
    "NL91ABNA0417164300",
    "BE68539007547034",
    "NO9386011117947",
    "CH9300762011623852957",
    "MT84MALT011000012345MTLCAST001S",
    "LC55HEMM000100010012001200023015",
    "RU0304452522540817810538091310419",
]


def _with_check_digits(country: str, bban: str) -> str:
    """Build a valid IBAN from a country and a BBAN (ISO 13616 check digit computation)."""
    number = int("".join(str(int(c, 36)) for c in bban + country + "00"))
    return f"{country}{98 - number % 97:02d}{bban}"


def _error(call: object, *args: str) -> BankDetailError:
    assert callable(call)
    with pytest.raises(BankDetailError) as caught:
        call(*args)
    return caught.value


# --- IBAN -------------------------------------------------------------------------------


@pytest.mark.parametrize("iban", VALID_IBANS)
def test_valid_ibans_pass_unchanged(iban: str) -> None:
    assert validate_iban(iban) == iban


def test_iban_is_normalised_to_uppercase_without_spaces() -> None:
    assert validate_iban(" de89 3704 0044 0532 0130 00 ") == "DE89370400440532013000"
    assert validate_iban("fr14 2004 1010 0505 0001 3m02 606") == "FR1420041010050500013M02606"
    assert validate_iban("GB82-WEST-1234-5698-7654-32") == "GB82WEST12345698765432"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("DE89370400440532013001", "IBAN checksum is wrong"),
        ("DE98370400440532013000", "IBAN checksum is wrong"),
        ("GB82WEST12345698765433", "IBAN checksum is wrong"),
        ("DE8937040044053201300", "IBAN for DE must be 22 characters"),
        ("DE893704004405320130000", "IBAN for DE must be 22 characters"),
        ("NL91ABNA041716430", "IBAN for NL must be 18 characters"),
        ("XX89370400440532013000", "IBAN country code XX is not in the IBAN registry"),
        ("US12345678901234567890", "IBAN country code US is not in the IBAN registry"),
        ("1289370400440532013000", "IBAN must start with a two-letter country code"),
        ("DE89 3704 0044 0532 0130 0!", "IBAN must contain only letters and digits"),
        ("DÉ89370400440532013000", "IBAN must contain only letters and digits"),
        ("", "IBAN is empty"),
        ("   ", "IBAN is empty"),
        ("DE" + "1" * 33, "IBAN must be at most 34 characters"),
        ("DEXX370400440532013000", "IBAN check digits must be two digits from 02 to 98"),
    ],
)
def test_invalid_ibans_are_refused_with_the_reason(value: str, message: str) -> None:
    error = _error(validate_iban, value)

    assert str(error) == message
    assert error.field == "iban"


@pytest.mark.parametrize("check_digits", ["00", "01", "99"])
def test_check_digits_outside_02_to_98_are_refused_even_when_mod97_holds(
    check_digits: str,
) -> None:
    # DE02 1203 0000 0000 2020 51 is valid; 99 is congruent to 02 modulo 97, so the
    # arithmetic alone would accept DE99...
    assert validate_iban("DE02120300000000202051") == "DE02120300000000202051"

    error = _error(validate_iban, f"DE{check_digits}120300000000202051")

    assert str(error) == "IBAN check digits must be two digits from 02 to 98"


def test_the_registry_table_covers_every_registry_country() -> None:
    assert len(IBAN_LENGTHS) == 89
    assert all(len(code) == 2 and code.isupper() for code in IBAN_LENGTHS)
    assert all(15 <= length <= 33 for length in IBAN_LENGTHS.values())
    assert IBAN_LENGTHS["NO"] == 15
    assert IBAN_LENGTHS["RU"] == 33
    assert {"HN", "OM", "YE", "SO", "FK", "MN"} <= IBAN_LENGTHS.keys()


@pytest.mark.parametrize(("country", "length"), sorted(IBAN_LENGTHS.items()))
def test_every_registry_country_accepts_its_length_only(country: str, length: int) -> None:
    iban = _with_check_digits(country, "1" * (length - 4))

    assert validate_iban(iban) == iban
    assert str(_error(validate_iban, iban + "1")) == (
        f"IBAN for {country} must be {length} characters"
    )


@given(country=st.sampled_from(sorted(IBAN_LENGTHS)), data=st.data())
def test_any_single_digit_change_is_caught(country: str, data: st.DataObject) -> None:
    digits = "0123456789"
    length = IBAN_LENGTHS[country]
    bban = data.draw(st.text(alphabet=digits, min_size=length - 4, max_size=length - 4))
    iban = _with_check_digits(country, bban)
    position = data.draw(st.integers(min_value=2, max_value=length - 1))
    replacement = data.draw(st.sampled_from(digits).filter(lambda c: c != iban[position]))
    changed = iban[:position] + replacement + iban[position + 1 :]

    assert validate_iban(iban) == iban
    # MOD 97-10 detects every single-digit substitution (letters count as two digits, so the
    # guarantee is about digits), in the check digits too unless they leave 02-98.
    assert str(_error(validate_iban, changed)) in {
        "IBAN checksum is wrong",
        "IBAN check digits must be two digits from 02 to 98",
    }


# --- ABA routing numbers ----------------------------------------------------------------


@pytest.mark.parametrize(
    "routing",
    ["021000021", "011000015", "121000358", "026009593", "322271627", "061000104"],
)
def test_valid_routing_numbers_pass(routing: str) -> None:
    assert validate_aba_routing(routing) == routing


def test_routing_number_spaces_are_ignored() -> None:
    assert validate_aba_routing(" 0210 0002 1 ") == "021000021"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("021000022", "routing number checksum is wrong"),
        ("121000357", "routing number checksum is wrong"),
        ("02100002", "routing number must be exactly 9 digits"),
        ("0210000211", "routing number must be exactly 9 digits"),
        ("02100002A", "routing number must be exactly 9 digits"),
        ("", "routing number must be exactly 9 digits"),
        ("000000000", "routing number cannot start with 00: not a Federal Reserve district"),
        ("131000000", "routing number cannot start with 13: not a Federal Reserve district"),
        ("990000000", "routing number cannot start with 99: not a Federal Reserve district"),
    ],
)
def test_invalid_routing_numbers_are_refused(value: str, message: str) -> None:
    error = _error(validate_aba_routing, value)

    assert str(error) == message
    assert error.field == "routing_number"


# --- account numbers --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "country", "expected"),
    [
        ("1234", "US", "1234"),
        ("12345678901234567", "US", "12345678901234567"),
        ("0001 2345-6789", "US", "000123456789"),
        ("12345678", "us", "12345678"),
        ("abc12345", "CA", "ABC12345"),
        ("A" * 34, "IN", "A" * 34),
    ],
)
def test_valid_account_numbers_are_normalised(value: str, country: str, expected: str) -> None:
    assert validate_account_number(value, country) == expected


@pytest.mark.parametrize(
    ("value", "country", "message"),
    [
        ("123", "US", "account number must be 4 to 17 digits for US accounts"),
        ("123456789012345678", "US", "account number must be 4 to 17 digits for US accounts"),
        ("1234A678", "US", "account number must be 4 to 17 digits for US accounts"),
        ("ABC", "CA", "account number must be 4 to 34 letters and digits"),
        ("A" * 35, "CA", "account number must be 4 to 34 letters and digits"),
        ("1234/5678", "CA", "account number must be 4 to 34 letters and digits"),
        ("12345678", "USA", "account country must be a two-letter ISO 3166 code, got 'USA'"),
    ],
)
def test_invalid_account_numbers_are_refused(value: str, country: str, message: str) -> None:
    error = _error(validate_account_number, value, country)

    assert str(error) == message
    assert error.field == "account_number"


# --- wallets ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "wallet_id", "expected"),
    [
        ("paypal", "Ada.Lovelace@Example.com", ("paypal", "ada.lovelace@example.com")),
        ("PayPal", " ada@example.com ", ("paypal", "ada@example.com")),
        ("wise", "P12345678", ("wise", "P12345678")),
        ("payoneer", "12345678", ("payoneer", "12345678")),
        ("stripe", "acct_1032D82eZvKYlo2C", ("stripe", "acct_1032D82eZvKYlo2C")),
    ],
)
def test_valid_wallets_are_normalised(
    provider: str, wallet_id: str, expected: tuple[str, str]
) -> None:
    assert validate_wallet(provider, wallet_id) == expected


@pytest.mark.parametrize(
    ("provider", "wallet_id", "field", "message"),
    [
        ("wise", "abc", "wallet_id", "Wise wallet id must be 4 to 40 letters and digits"),
        ("wise", "ab-cd-ef", "wallet_id", "Wise wallet id must be 4 to 40 letters and digits"),
        ("payoneer", "12a45", "wallet_id", "Payoneer wallet id must be 4 to 20 digits"),
        (
            "stripe",
            "1032D82eZvKYlo2C",
            "wallet_id",
            "Stripe wallet id must be a connected account id such as acct_1032D82eZvKYlo2C",
        ),
        (
            "stripe",
            "acct_short",
            "wallet_id",
            "Stripe wallet id must be a connected account id such as acct_1032D82eZvKYlo2C",
        ),
        (
            "venmo",
            "ada",
            "wallet_provider",
            "wallet provider 'venmo' is not supported: use paypal, wise, payoneer, stripe",
        ),
    ],
)
def test_invalid_wallets_are_refused(
    provider: str, wallet_id: str, field: str, message: str
) -> None:
    error = _error(validate_wallet, provider, wallet_id)

    assert str(error) == message
    assert error.field == field


def test_paypal_needs_an_email_address() -> None:
    error = _error(validate_wallet, "paypal", "not-an-email")

    assert str(error).startswith("PayPal wallet id must be an email address: ")
    assert error.field == "wallet_id"


def test_wallet_providers_are_the_documented_four() -> None:
    assert WALLET_PROVIDERS == ("paypal", "wise", "payoneer", "stripe")


# --- masking ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("DE89370400440532013000", "****3000"),
        ("DE89 3704 0044 0532 0130 00", "****3000"),
        ("000123456789", "****6789"),
        ("12345", "****2345"),
        ("1234", "****"),
        ("", "****"),
        ("ada@example.com", "****.com"),
    ],
)
def test_mask_shows_at_most_the_last_four(value: str, masked: str) -> None:
    assert mask_account(value) == masked
