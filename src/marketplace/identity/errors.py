"""Identity error codes: each exception carries its HTTP status, code and title."""

from __future__ import annotations

from marketplace.platform.errors import AppError, Conflict, NotFound, Unauthorized


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    title = "Invalid email or password"


class InvalidToken(Unauthorized):
    code = "invalid_token"
    title = "Invalid or expired token"


class RefreshTokenReused(Unauthorized):
    code = "refresh_token_reused"
    title = "Refresh token already used"
    keeps_changes = True  # the family revocation must commit with the 401


class EmailTaken(Conflict):
    code = "email_taken"
    title = "Email already registered"


class UserNotFound(NotFound):
    code = "user_not_found"
    title = "User not found"


class ApiKeyNotFound(NotFound):
    code = "api_key_not_found"
    title = "API key not found"


class RoleExists(Conflict):
    code = "role_exists"
    title = "Role already exists"


class LastOwner(AppError):
    status = 409
    code = "last_owner"
    title = "A vendor keeps at least one owner"
