"""Sourcing: where can N of an item come from for a destination, without pushing a supplier below safety."""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.db.models import F, Q

from inventory.models import Item, LogisticsCenter, ReleaseList, Stock
from nations import access

EARTH_RADIUS_KM = 6371.0088


def great_circle_km(lat1, lon1, lat2, lon2) -> float:
    """Haversine distance between two points given in degrees."""
    p1, p2 = math.radians(float(lat1)), math.radians(float(lat2))
    dp, dl = p2 - p1, math.radians(float(lon2) - float(lon1))
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


@dataclass(frozen=True)
class SourcingOption:
    stock: Stock
    spare: int  # what the supplier can give and stay at or above its safety level
    distance_km: float


def sourcing_options(
    *, user, item: Item, quantity: int, destination: LogisticsCenter, exclude_nation_ids=()
) -> list[SourcingOption]:
    """Stocks the user may see, of other nations, shared with all or released to a nation the user requests for
    (one they are a logistics officer of), that can each supply `quantity` of `item` while keeping
    ``available - quantity >= safety_level``; nearest source center first, then largest spare."""
    requesting = access.profile(user).logistics_nations
    offered = Q(shared=True)
    if requesting:  # released (REL TO) to a requesting nation; a list naming only another of the user's nations is not
        offered |= Q(release_list__in=ReleaseList.objects.filter(nations__in=sorted(requesting)).values("pk"))
    candidates = (
        Stock.objects.visible_to(user)
        .filter(offered, item=item)
        .exclude(nation_id__in=exclude_nation_ids)
        .annotate(spare=F("on_hand") - F("reserved") - F("safety_level"))
        .filter(spare__gte=quantity)
        .select_related("nation", "center", "item")
    )
    options = [
        SourcingOption(
            stock=s,
            spare=s.spare,
            distance_km=round(
                great_circle_km(destination.latitude, destination.longitude, s.center.latitude, s.center.longitude), 1
            ),
        )
        for s in candidates
    ]
    options.sort(key=lambda o: (o.distance_km, -o.spare, o.stock.nation.code))
    return options
