"""The header's search box: one text, looked up as what people type into it -- an NSN (with or without dashes), an
item's name, a request's reference (REQ-000123, or just 123) or a center's code or name -- and answered grouped by
kind.

It searches the catalog, the centers and the requests, never the stocks (a million rows): an item links to the
stock list filtered by that item, which shows the user's visible stocks of it.  Requests come through
``visible_to`` like every list; items and centers are reference data that every signed-in user sees."""

from __future__ import annotations

import re

from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode

from coordination.models import SupplyRequest
from core.filters import item_search
from inventory.models import Item, LogisticsCenter

# Each kind lists this many at most; more items than that ask for a narrower text (the stock list takes the rest).
LIMIT = 20
MAX_TEXT = 100  # the box's maxlength: longer text names nothing

# REQ-000123 as typed: "REQ-000123", "req 123", "REQ123", "123"
REQUEST_REFERENCE = re.compile(r"^(?:REQ)?[-\s]*(\d{1,9})$", re.IGNORECASE)


def request_reference(text: str) -> str | None:
    """The stored reference (``REQ-000123``) that `text` names, or None when it cannot be one."""
    match = REQUEST_REFERENCE.match(text)
    if match is None or int(match.group(1)) == 0:
        return None
    return f"REQ-{int(match.group(1)):06d}"


def search_portal(user, text: str) -> dict:
    """What `text` finds for `user`, by kind: at most LIMIT of each, and whether there were more items."""
    # the door to requests is opened whatever the text: the page shows nothing the user may not see
    requests = SupplyRequest.objects.visible_to(user)
    text = text.strip()[:MAX_TEXT]
    if not text:
        return {"requests": [], "items": [], "centers": [], "more_items": False}
    reference = request_reference(text)
    found_requests = (
        list(
            requests.filter(reference=reference).select_related(
                "requesting_nation", "supplying_nation", "item", "source_center", "destination_center"
            )
        )
        if reference
        else []
    )
    items = list(item_search(Item.objects.order_by("nsn"), text)[: LIMIT + 1])
    centers = list(
        LogisticsCenter.objects.filter(Q(code__icontains=text) | Q(name__icontains=text))
        .select_related("host_nation")
        .order_by("code")[:LIMIT]
    )
    return {
        "requests": found_requests,
        "items": items[:LIMIT],
        "more_items": len(items) > LIMIT,
        "centers": centers,
    }


@login_required
def search(request):
    text = request.GET.get("q", "").strip()[:MAX_TEXT]
    results = search_portal(request.user, text)
    return render(
        request,
        "portal/search.html",
        {
            "search_text": text,
            # more items than the page lists: the stock list's NSN-or-name filter takes the same text
            "more_url": f"{reverse('stock-list')}?{urlencode({'q': text})}",
            "found": bool(results["requests"] or results["items"] or results["centers"]),
            **results,
        },
    )
