"""Password hashing with argon2id (OWASP: m=19 MiB, t=2, p=1 at least).

Hashes carry their parameters, so raising them later rehashes each password at its owner's
next successful login (`needs_rehash`).
"""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


@dataclass(frozen=True, slots=True)
class HashParameters:
    memory_kib: int = 19 * 1024
    time_cost: int = 2
    parallelism: int = 1


class Passwords:
    def __init__(self, parameters: HashParameters = HashParameters()) -> None:
        self._hasher = PasswordHasher(
            memory_cost=parameters.memory_kib,
            time_cost=parameters.time_cost,
            parallelism=parameters.parallelism,
        )
        # Verifying against a real hash for unknown emails keeps login timing uniform, so
        # response times do not reveal which emails have accounts.
        self._dummy_hash = self._hasher.hash("dummy password for timing")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash or self._dummy_hash, password) and (
                password_hash is not None
            )
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)
