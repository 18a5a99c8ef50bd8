"""Who made a change: the context every history event carries (user, path, API token).

pghistory passes it to the triggers by prefixing each write statement with ``SELECT set_config(...)``.  That is
PostgreSQL SQL, so on SQLite (``make run``), where no trigger records anything, the context is never entered.
"""

import pghistory
from django.db import connection
from pghistory.middleware import HistoryMiddleware


def is_recorded() -> bool:
    """History is recorded on PostgreSQL only (pgtrigger installs no trigger on other databases)."""
    return connection.vendor == "postgresql"


def add(**metadata) -> None:
    """Add to the context of the write request being served (nothing outside one, or on SQLite)."""
    if is_recorded():
        pghistory.context(**metadata)


class HistoryContextMiddleware(HistoryMiddleware):
    """pghistory's middleware (user id and path of every write request; the user set later by DRF's token
    authentication is picked up too), on PostgreSQL only.  The API token is added by its authentication class."""

    def __call__(self, request):
        if not is_recorded():
            return self.get_response(request)
        return super().__call__(request)
