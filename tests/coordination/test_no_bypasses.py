"""Flag acknowledgement and notification reading go through their services, from every channel: the admin's bulk
action keeps the rule and moves ``updated_at`` (so ``updated_after`` sync sees it); marking notifications read
touches only the caller's own."""

import datetime as dt

import pytest
from django.contrib.admin.sites import site
from django.contrib.messages.storage.fallback import FallbackStorage
from django.test import RequestFactory
from django.utils import timezone

from coordination.admin import acknowledge
from coordination.models import EventType, Notification, Shortfall, ShortfallKind
from coordination.services import mark_notifications_read
from tests.factories import StockFactory, UserFactory

pytestmark = pytest.mark.django_db


def _shortfall(**kwargs) -> Shortfall:
    stock = StockFactory()
    now = timezone.now()
    return Shortfall.objects.create(
        kind=ShortfallKind.BELOW_SAFETY,
        stock=stock,
        nation=stock.nation,
        center=stock.center,
        item=stock.item,
        first_seen=now,
        last_seen=now,
        **kwargs,
    )


def _admin_request(user):
    request = RequestFactory().post("/admin/coordination/shortfall/")
    request.user = user
    request.session = {}
    request._messages = FallbackStorage(request)
    return request


def test_the_admin_bulk_acknowledge_goes_through_the_service_and_moves_updated_at():
    admin_user = UserFactory(is_staff=True, is_superuser=True)
    flags = [_shortfall(), _shortfall()]
    long_ago = timezone.now() - dt.timedelta(days=3)
    Shortfall.objects.filter(pk__in=[f.pk for f in flags]).update(updated_at=long_ago)

    acknowledge(
        site._registry[Shortfall], _admin_request(admin_user), Shortfall.objects.filter(pk__in=[f.pk for f in flags])
    )

    for flag in Shortfall.objects.filter(pk__in=[f.pk for f in flags]):
        assert flag.acknowledged_by == admin_user and flag.acknowledged_at is not None
        assert flag.updated_at > long_ago  # incremental sync (updated_after) sees the acknowledgement
    assert Shortfall.objects.filter(updated_at__gt=long_ago + dt.timedelta(seconds=1)).count() == 2


def test_the_admin_bulk_acknowledge_keeps_the_rule_of_the_service():
    staff_without_grants = UserFactory(is_staff=True)
    flag = _shortfall()

    acknowledge(site._registry[Shortfall], _admin_request(staff_without_grants), Shortfall.objects.filter(pk=flag.pk))

    flag.refresh_from_db()
    assert flag.acknowledged_at is None  # refused by the same rule as the pages and the API


def _note(user, *, read=False) -> Notification:
    return Notification.objects.create(
        user=user, event=EventType.choices[0][0], title="t", read_at=timezone.now() if read else None
    )


def test_marking_notifications_read_touches_only_the_callers_own():
    me, other = UserFactory(), UserFactory()
    mine, already, theirs = _note(me), _note(me, read=True), _note(other)
    already_at = Notification.objects.get(pk=already.pk).read_at

    assert mark_notifications_read(user=me, ids=[mine.pk, already.pk, theirs.pk]) == 1
    assert Notification.objects.get(pk=mine.pk).read_at is not None
    assert Notification.objects.get(pk=already.pk).read_at == already_at  # an old read stays as it was
    assert Notification.objects.get(pk=theirs.pk).read_at is None  # someone else's id is ignored


def test_marking_all_read_marks_every_unread_of_the_caller_and_nobody_elses():
    me, other = UserFactory(), UserFactory()
    mine = [_note(me), _note(me)]
    theirs = _note(other)

    assert mark_notifications_read(user=me) == 2
    assert not Notification.objects.filter(pk__in=[n.pk for n in mine], read_at__isnull=True).exists()
    assert Notification.objects.get(pk=theirs.pk).read_at is None
