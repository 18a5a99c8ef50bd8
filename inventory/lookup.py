"""Item lookup for the forms that name an item: the autocomplete of the NSN inputs, and how such an input's text
is read back into a catalog item.

An input offers items as ``NSN — name (unit)`` (``entry_of``); what comes back may be that text, an NSN with or
without dashes, or an item's exact name (``item_for_entry``)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from core.filters import dashed_nsn, item_search
from core.web import public_page

from .models import Item

LOOKUP_LIMIT = 20
ENTRY_SEPARATOR = " — "
MIN_QUERY_LENGTH = 2  # one letter matches most of the catalog: wait for a second


def entry_of(item: Item) -> str:
    """How an input shows an item: ``8970-14-000-0001 — Ration, meal ready-to-eat (BX)``."""
    return f"{item.nsn}{ENTRY_SEPARATOR}{item.name} ({item.unit_of_issue})"


def item_for_entry(text: str) -> Item | None:
    """The catalog item an input's text names: an entry picked from the list, an NSN typed with or without dashes,
    or exactly one item's name (case aside); None when it names none, or several."""
    text = (text or "").strip()
    if not text:
        return None
    nsn = dashed_nsn(text.partition(ENTRY_SEPARATOR)[0].strip())
    item = Item.objects.filter(nsn=nsn).first()
    if item is not None:
        return item
    by_name = list(Item.objects.filter(name__iexact=text)[:2])
    return by_name[0] if len(by_name) == 1 else None


def lookup_items(text: str) -> list[Item]:
    """Up to ``LOOKUP_LIMIT`` items whose NSN starts with `text` (dashes optional) or whose name contains it.

    Ordered by NSN, so PostgreSQL walks the NSN's unique index and stops at the twentieth match instead of sorting
    every match of a common word."""
    text = (text or "").partition(ENTRY_SEPARATOR)[0].strip()  # an entry already picked: its NSN
    if len(text) < MIN_QUERY_LENGTH:
        return []
    rows = item_search(Item.objects.only("nsn", "name", "unit_of_issue"), text).order_by("nsn")
    return list(rows[:LOOKUP_LIMIT])


@public_page  # the catalog is reference data every signed-in user reads
@login_required
def item_lookup(request):
    """``GET /items/lookup/?q=<text>``: the ``<option>``s of an item input's ``<datalist>`` (htmx swaps them in).

    The input itself may send its text under its own name (``nsn``), so that one ``hx-get`` serves any form."""
    text = request.GET.get("q") or request.GET.get("nsn") or ""
    return render(request, "inventory/_item_options.html", {"entries": [entry_of(i) for i in lookup_items(text)]})
