"""Identity rules: permissions, roles, password policy, lockout, vendor access."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketplace.identity.domain import (
    BUILTIN_ROLES,
    PERMISSIONS,
    READ_PERMISSIONS,
    LockoutPolicy,
    Principal,
    UnknownPermission,
    password_problem,
    validate_permissions,
    vendor_access_for,
)
from marketplace.identity.passwords import HashParameters, Passwords


def test_permission_vocabulary_matches_the_api_contract() -> None:
    assert PERMISSIONS == (
        "store.manage",
        "staff.manage",
        "products.read",
        "products.write",
        "inventory.write",
        "orders.read",
        "orders.fulfil",
        "refunds.issue",
        "reports.read",
        "payouts.read",
        "payouts.manage",
        "promotions.manage",
        "reviews.respond",
    )
    assert {"products.read", "orders.read", "reports.read", "payouts.read"} == READ_PERMISSIONS


def test_builtin_roles() -> None:
    assert BUILTIN_ROLES["owner"] == set(PERMISSIONS)
    assert "staff.manage" not in BUILTIN_ROLES["manager"]
    assert "payouts.manage" not in BUILTIN_ROLES["manager"]
    assert "refunds.issue" not in BUILTIN_ROLES["staff"]


def test_unknown_permissions_are_named() -> None:
    with pytest.raises(UnknownPermission) as raised:
        validate_permissions(["orders.read", "orders.delete", "admin"])
    assert raised.value.names == ["admin", "orders.delete"]


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short", "must be at least 10 characters"),
        ("x" * 129, "must be at most 128 characters"),
        ("password123", "is too common"),
        ("aaaaaaaaaaaa", "is too common"),
        ("ada@example.com", "must not be the email address"),
        ("correct horse battery", None),
    ],
)
def test_password_policy(password: str, problem: str | None) -> None:
    assert password_problem(password, email="ada@example.com") == problem


def test_lockout_doubles_and_caps() -> None:
    policy = LockoutPolicy(threshold=5, base_lock_seconds=60, max_lock_seconds=3600)

    assert [policy.lock_seconds(n) for n in (1, 4, 5, 6, 7, 11, 12, 50)] == [
        0,
        0,
        60,
        120,
        240,
        3600,
        3600,
        3600,
    ]


CUSTOMER = Principal(kind="user", id="usr_c")
ADMIN = Principal(kind="user", id="usr_a", platform_role="admin")
SUPPORT = Principal(kind="user", id="usr_s", platform_role="support")
KEY = Principal(
    kind="api_key", id="key_1", vendor_id="ven_1", permissions=frozenset({"orders.read"})
)


def test_vendor_access_rules() -> None:
    assert vendor_access_for(CUSTOMER, "ven_1", None, frozenset()) is None
    member = vendor_access_for(CUSTOMER, "ven_1", "staff", BUILTIN_ROLES["staff"])
    assert member is not None
    assert (member.role, member.actor_role) == ("staff", "vendor:staff")
    admin = vendor_access_for(ADMIN, "ven_1", None, frozenset())
    assert admin is not None
    assert admin.permissions == set(PERMISSIONS)
    support = vendor_access_for(SUPPORT, "ven_1", None, frozenset())
    assert support is not None
    assert support.permissions == READ_PERMISSIONS
    assert vendor_access_for(KEY, "ven_2", None, frozenset()) is None
    key = vendor_access_for(KEY, "ven_1", None, frozenset())
    assert key is not None
    assert key.permissions == {"orders.read"}


@given(st.sets(st.sampled_from(PERMISSIONS)), st.sampled_from(PERMISSIONS))
def test_an_api_key_never_allows_more_than_it_was_granted(granted: set[str], wanted: str) -> None:
    key = Principal(kind="api_key", id="key", vendor_id="v", permissions=frozenset(granted))
    access = vendor_access_for(key, "v", None, frozenset())
    assert access is not None
    assert access.allows(wanted) == (wanted in granted)


def test_password_hashes_use_owasp_argon2id_parameters_by_default() -> None:
    passwords = Passwords()
    hashed = passwords.hash("correct horse battery")

    assert HashParameters() == HashParameters(memory_kib=19456, time_cost=2, parallelism=1)
    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert passwords.verify(hashed, "correct horse battery")
    assert not passwords.verify(hashed, "wrong horse battery")
    assert not passwords.verify(None, "anything at all")
    assert not passwords.needs_rehash(hashed)
    assert Passwords(HashParameters(memory_kib=1024, time_cost=1)).needs_rehash(hashed)
