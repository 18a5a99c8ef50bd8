"""Domain errors raised by the services of every app, mapped to HTTP by the views and the API.

PermissionDenied (Django's) answers 403; these answer 409 (wrong state, not enough stock) or 400 (bad input).
"""

from django.core.exceptions import ValidationError  # noqa: F401 - re-exported: bad input, answers 400


class Conflict(Exception):
    """The operation is valid in itself but conflicts with the current state (answers 409)."""

    code = "conflict"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidTransition(Conflict):
    """The request is not in a status from which this transition is allowed."""

    code = "invalid_transition"


class InsufficientStock(Conflict):
    """The stock does not have that much available."""

    code = "insufficient_stock"
