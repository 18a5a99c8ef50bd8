"""factory_boy factories for the domain.  Quantities go through the services where the ledger matters:
use ``stock_with(...)`` to get a stock whose on_hand is backed by a receipt movement."""

import datetime as dt
import itertools

import factory
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from coordination.models import SupplyRequest
from inventory.models import CenterKind, Item, LogisticsCenter, MovementKind, Stock, SupplyClass
from inventory.services import lock_stock, post_movement
from nations.models import Nation

_alpha3 = (
    f"{a}{b}{c}" for a, b, c in itertools.product("QXZ", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
)
_ncb = (f"{n:02d}" for n in itertools.cycle(range(40, 100)))


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("test-password-123")


class NationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Nation
        django_get_or_create = ("code",)

    code = factory.LazyFunction(lambda: next(_alpha3))
    name = factory.LazyAttribute(lambda o: f"Nation {o.code}")
    ncb_code = factory.LazyFunction(lambda: next(_ncb))


class CenterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LogisticsCenter
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"MLC-T{n}")
    name = factory.LazyAttribute(lambda o: f"Center {o.code}")
    host_nation = factory.SubFactory(NationFactory)
    kind = CenterKind.MULTINATIONAL
    latitude = factory.Sequence(lambda n: 45 + (n % 10))
    longitude = factory.Sequence(lambda n: 5 + (n % 20))


class ItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Item
        django_get_or_create = ("nsn",)

    nsn = factory.Sequence(lambda n: f"8970-12-{n // 10000 % 1000:03d}-{n % 10000:04d}")
    name = factory.Sequence(lambda n: f"Test item {n}")
    supply_class = SupplyClass.I
    unit_of_issue = "EA"


class StockFactory(factory.django.DjangoModelFactory):
    """An empty stock. Use ``stock_with`` for one with quantity backed by the ledger."""

    class Meta:
        model = Stock

    nation = factory.SubFactory(NationFactory)
    center = factory.SubFactory(CenterFactory)
    item = factory.SubFactory(ItemFactory)


def stock_with(on_hand: int = 0, *, actor=None, **kwargs) -> Stock:
    """A stock holding `on_hand`, booked as one receipt movement so the ledger reconciles."""
    stock = StockFactory(**kwargs)
    if on_hand:
        actor = actor or UserFactory(username="ledger-seeder")
        with transaction.atomic():  # through the service, so the movement is chained like any other
            post_movement(
                stock=lock_stock(stock.pk),
                kind=MovementKind.RECEIPT,
                quantity=on_hand,
                actor=actor,
                reason="test receipt",
            )
        stock.refresh_from_db()
    return stock


class SupplyRequestFactory(factory.django.DjangoModelFactory):
    """A draft request written straight to the table (for read-side tests; lifecycle tests use services)."""

    class Meta:
        model = SupplyRequest

    requesting_nation = factory.SubFactory(NationFactory)
    supplying_nation = factory.SubFactory(NationFactory)
    item = factory.SubFactory(ItemFactory)
    source_center = factory.SubFactory(CenterFactory)
    destination_center = factory.SubFactory(CenterFactory)
    quantity_requested = 10
    required_by = factory.LazyFunction(lambda: timezone.localdate() + dt.timedelta(days=7))
    justification = "Exercise resupply"
    created_by = factory.SubFactory(UserFactory)
    reference = factory.Sequence(lambda n: f"REQ-T{n:06d}")
