"""Announcing the end of part of ``/api/v1/`` (README, "Versioning"): the answers that use it say so, as RFC 9745
(``Deprecation``) and RFC 8594 (``Sunset``) ask, with a link to the notes; the schema marks the operation deprecated.

A viewset declares ``deprecated_actions = {"list": Deprecation(since=..., sunset=..., link=...)}``; the base
viewset adds the headers and the schema class reads the same table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils.http import http_date


@dataclass(frozen=True)
class Deprecation:
    since: datetime  # when it was deprecated (aware)
    sunset: datetime  # when it goes: at least 6 months after `since`
    link: str  # the notes: what to use instead

    def headers(self) -> dict[str, str]:
        return {
            "Deprecation": f"@{int(self.since.timestamp())}",
            "Sunset": http_date(self.sunset.timestamp()),
            "Link": f'<{self.link}>; rel="deprecation"',
        }


def deprecation_of(view) -> Deprecation | None:
    return getattr(view, "deprecated_actions", {}).get(getattr(view, "action", None))
