"""Notices and their e-mails in each recipient's language (issue 14: "the French interface complete for every
page, form, message, e-mail and notification").  A user's language is remembered when they switch it in the
header, or at their first sign-in from the language the page was shown in; each event is composed once per
language of its recipients, never in the acting user's."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from coordination import events, services
from coordination.models import EventType, Notification, Shortfall
from nations.models import UserPreference
from nations.roles import Role
from tests.factories import StockFactory
from tests.scenario import users_with_roles
from tests.web import conftest as web_pages
from tests.web.conftest import make_request, shortfall_on

pytestmark = pytest.mark.django_db

world, browser = web_pages.world, web_pages.browser  # the scenario and its signed-in browsers, as the page tests'
PASSWORD = "test-password-123"  # tests/factories.py


def language_of(user) -> str | None:
    return UserPreference.objects.filter(user=user).values_list("language", flat=True).first()


def switch(client: Client, language: str):
    return client.post(reverse("set_language"), {"language": language, "next": reverse("home")})


def prefer(user, language: str) -> None:
    UserPreference.objects.update_or_create(user=user, defaults={"language": language})


def with_email(user) -> str:
    user.email = f"{user.username}@example.org"
    user.save(update_fields=["email"])
    return user.email


def notice(world, user: str, event: str) -> Notification:
    return Notification.objects.get(user=world.users[user], event=event)


# --- remembering the language --------------------------------------------------------------------------------------


def test_switching_language_in_the_header_remembers_it_and_switching_back_too(world, browser):
    client, user = browser("fra_logistics"), world.users["fra_logistics"]
    assert language_of(user) is None

    response = switch(client, "fr")

    assert response.status_code == 302 and response["Location"] == reverse("home")  # Django's switch, as before
    assert '<html lang="fr">' in client.get(reverse("home")).content.decode()
    assert language_of(user) == "fr"
    switch(client, "en")
    assert language_of(user) == "en"
    assert UserPreference.objects.count() == 1


def test_only_the_portals_languages_are_remembered_and_only_for_signed_in_users(world, browser):
    client, user = browser("fra_logistics"), world.users["fra_logistics"]
    switch(client, "fr")

    switch(client, "de")  # a language Django knows, the portal does not offer
    assert language_of(user) == "fr"
    client.get(reverse("set_language") + "?language=en")  # a GET changes nothing (Django's rule)
    assert language_of(user) == "fr"
    assert switch(browser("anonymous"), "fr").status_code == 302  # the login page's visitors switch too
    assert UserPreference.objects.count() == 1


def test_signing_in_remembers_the_language_the_page_was_shown_in(world):
    user = world.users["fra_logistics"]
    client = Client(headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert '<html lang="fr">' in client.get(reverse("login")).content.decode()

    response = client.post(reverse("login"), {"username": user.username, "password": PASSWORD})

    assert response.status_code == 302
    assert language_of(user) == "fr"


def test_signing_in_never_overwrites_a_remembered_language(world):
    user = world.users["fra_logistics"]
    prefer(user, "fr")

    Client().post(reverse("login"), {"username": user.username, "password": PASSWORD})  # an English page

    assert language_of(user) == "fr"


def test_a_failed_sign_in_remembers_nothing(world):
    user = world.users["fra_logistics"]
    Client(headers={"Accept-Language": "fr"}).post(reverse("login"), {"username": user.username, "password": "no"})
    assert language_of(user) is None


# --- notices in the reader's language ------------------------------------------------------------------------------


def test_a_french_and_an_english_recipient_of_one_event_each_read_their_own_language(
    world, django_capture_on_commit_callbacks
):
    prefer(world.users["fra_logistics"], "fr")  # FRA's other logistics officer (dual_hat) chose nothing
    prefer(world.users["mlc_a_operator"], "fr")
    french_address, english_address = with_email(world.users["fra_logistics"]), with_email(world.users["dual_hat"])
    request = make_request(world, quantity=10)

    with django_capture_on_commit_callbacks(execute=True):  # the e-mails leave once the approval commits
        services.approve_request(request=request, approver=world.users["deu_liaison"], quantity=6, comment="Reste")

    french = notice(world, "fra_logistics", EventType.REQUEST_APPROVED)
    english = notice(world, "dual_hat", EventType.REQUEST_APPROVED)
    assert french.title == f"{request.reference} : demande approuvée"
    assert "FRA demande à DEU 10 L × 9130-12-000-0002 Diesel fuel (MLC-A → NAT-F)." in french.body.splitlines()
    assert "Suite : MLC-A expédie 6 L vers NAT-F." in french.body.splitlines() and "Next:" not in french.body
    assert english.title == f"{request.reference}: request approved"
    assert "Next: MLC-A dispatches 6 L to NAT-F." in english.body.splitlines()
    operator = notice(world, "mlc_a_operator", EventType.REQUEST_APPROVED)
    assert operator.title == f"{request.reference} : expédier 6 L depuis MLC-A"
    # the e-mails send the stored text: each in its reader's language
    mail_of = {m.to[0]: m for m in mail.outbox}
    assert mail_of[french_address].subject == f"[Alliance Logistics] {french.title}"
    assert mail_of[french_address].body == french.body
    assert mail_of[english_address].subject == f"[Alliance Logistics] {english.title}"


def test_the_acting_users_language_does_not_leak_into_others_notices(world, browser):
    request = make_request(world)
    prefer(world.users["deu_liaison"], "en")
    client = browser("deu_liaison")
    switch(client, "fr")  # the actor now reads French; FRA's officers chose nothing

    client.post(reverse("request-action", args=[request.pk, "approve"]), {"quantity": "7"}, headers={"HX-Request": "1"})

    note = notice(world, "fra_logistics", EventType.REQUEST_APPROVED)
    assert note.title == f"{request.reference}: request approved"
    assert "Next:" in note.body


def critical(stock, *, available: int) -> int:
    shortfall = shortfall_on(stock, severity="critical")
    Shortfall.objects.filter(pk=shortfall.pk).update(available=available)
    return shortfall.pk


def test_a_critical_shortfall_notice_is_translated_with_its_plurals(world, django_capture_on_commit_callbacks):
    prefer(world.users["fra_logistics"], "fr")
    address = with_email(world.users["fra_logistics"])
    stock = world.stocks["fra_private"]

    with django_capture_on_commit_callbacks(execute=True):
        events.notify_critical_shortfalls([critical(stock, available=1)])

    french = notice(world, "fra_logistics", EventType.SHORTFALL_CRITICAL)
    english = notice(world, "dual_hat", EventType.SHORTFALL_CRITICAL)
    code = stock.center.code
    assert french.title == f"1 nouvelle pénurie critique à {code}"
    assert french.body.endswith(": sous le niveau de sécurité, 1 disponible")
    assert english.title == f"1 new critical shortfall at {code}"
    assert english.body.endswith(": below safety level, 1 available")
    assert [(m.to, m.subject) for m in mail.outbox] == [([address], f"[Alliance Logistics] {french.title}")]


def test_many_critical_shortfalls_say_so_in_plural_in_each_language(world, monkeypatch):
    prefer(world.users["fra_logistics"], "fr")
    monkeypatch.setattr(events, "MAX_LINES", 1)
    stocks = [world.stocks["fra_private"], StockFactory(nation=world.fra, center=world.mlc_a)]
    stocks.append(StockFactory(nation=world.fra, center=world.nat_f))

    events.notify_critical_shortfalls([critical(stock, available=5) for stock in stocks])

    french = notice(world, "fra_logistics", EventType.SHORTFALL_CRITICAL)
    english = notice(world, "dual_hat", EventType.SHORTFALL_CRITICAL)
    assert french.title.startswith("3 nouvelles pénuries critiques à ")
    assert french.body.splitlines()[0].endswith(" disponibles")
    assert french.body.splitlines()[-1] == "… et 2 autres pénuries."
    assert english.title.startswith("3 new critical shortfalls at ")
    assert english.body.splitlines()[-1] == "… and 2 more shortfalls."


def test_a_request_events_queries_do_not_grow_with_its_recipients(world):
    def queries_of_an_approval() -> int:
        request = make_request(world)
        with CaptureQueriesContext(connection) as queries:
            events.request_event(request, EventType.REQUEST_APPROVED)
        return len(queries)

    queries_of_an_approval()  # warm: what is cached once per process (content types, routes)
    before = queries_of_an_approval()
    more = users_with_roles({f"more_fra_{i}": [(Role.LOGISTICS, world.fra)] for i in range(4)})
    for user, language in zip(more.values(), ["fr", "en", "fr"], strict=False):  # the fourth chose nothing
        prefer(user, language)
    prefer(world.users["fra_logistics"], "fr")

    assert queries_of_an_approval() == before
    titles = dict(
        Notification.objects.filter(user__username__startswith="more-fra-").values_list("user__username", "title")
    )
    assert len(titles) == 4 and titles["more-fra-0"].endswith(" : demande approuvée")
    assert titles["more-fra-3"].endswith(": request approved")  # no choice: the portal's language
    assert settings.LANGUAGE_CODE == "en"
