"""The RFC 9457 members of a problem document belong to the problem, whatever an error adds."""

from __future__ import annotations

from marketplace.platform.errors import Conflict


def test_extra_members_never_replace_the_problem_members() -> None:
    error = Conflict(
        "Already shipped.",
        code="invalid_transition",
        extra={"status": "shipped", "type": "x", "code": "y", "current_status": "shipped"},
    )

    assert error.to_problem() == {
        "type": "/problems/invalid_transition",
        "title": Conflict.title,
        "status": 409,
        "detail": "Already shipped.",
        "code": "invalid_transition",
        "current_status": "shipped",
    }
