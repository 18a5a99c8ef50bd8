"""Every page, per role: who sees it (200), who is told it does not exist (404), and that lists, pools, the
dashboard and the CSV export hold exactly the rows the user may see."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.urls import reverse

from coordination.models import Notification, ReconciliationRun, RequestStatus
from coordination.runs import start_reconciliation

from .conftest import HTMX, count_discrepancy_on, make_request, shortfall_on

HUMANS = [
    "fra_logistics",
    "fra_liaison",
    "deu_logistics",
    "deu_liaison",
    "ita_logistics",
    "ita_liaison",
    "dual_hat",
    "mlc_a_operator",
    "nat_b_operator",
    "nat_f_operator",
    "coordinator",
    "no_role",
]

# Who sees each stock of the scenario (PRODUCT.md: its nation's officers, its center's operators, and when
# shared, the officers of the center's participating nations and the coordinators).
STOCK_VIEWERS = {
    "deu_shared": {
        "deu_logistics",
        "deu_liaison",
        "dual_hat",
        "fra_logistics",
        "fra_liaison",
        "mlc_a_operator",
        "coordinator",
    },
    "deu_private": {"deu_logistics", "deu_liaison", "dual_hat", "mlc_a_operator"},
    "fra_private": {"fra_logistics", "fra_liaison", "dual_hat", "mlc_a_operator"},
    "ita_shared": {"ita_logistics", "ita_liaison", "nat_b_operator", "coordinator"},
    "ita_private": {"ita_logistics", "ita_liaison", "nat_b_operator"},
}
# A FRA -> DEU request from MLC-A to NAT-F: both nations' officers, both centers' operators, coordinators.
REQUEST_VIEWERS = {
    "fra_logistics",
    "fra_liaison",
    "deu_logistics",
    "deu_liaison",
    "dual_hat",
    "mlc_a_operator",
    "nat_f_operator",
    "coordinator",
}


def ids(pattern: str, html: str) -> set[int]:
    return {int(pk) for pk in re.findall(pattern, html)}


# --- anonymous ---------------------------------------------------------------------------------------------------


def every_url(world) -> list[tuple[str, str]]:
    """(method, url) of every page and action of the portal."""
    request = make_request(world)
    stock = world.stocks["fra_private"]
    flag = shortfall_on(stock)
    discrepancy = count_discrepancy_on(stock, counted=40, by=world.users["mlc_a_operator"])
    run = ReconciliationRun.objects.create(centers_total=1)
    get = [
        reverse("home"),
        reverse("stock-list"),
        reverse("stock-list") + "?format=csv",
        reverse("stock-detail", args=[stock.pk]),
        reverse("center-list"),
        reverse("center-detail", args=["MLC-A"]),
        reverse("request-list"),
        reverse("request-new"),
        reverse("request-sourcing"),
        reverse("request-detail-page", args=[request.pk]),
        reverse("shortfall-list"),
        reverse("discrepancy-list"),
        reverse("reconciliation-list"),
        reverse("reconciliation-progress", args=[run.pk]),
        reverse("notification-list"),
    ]
    post = [
        reverse("stock-adjust", args=[stock.pk]),
        reverse("stock-count", args=[stock.pk]),
        reverse("stock-settings", args=[stock.pk]),
        reverse("request-new"),
        *(
            reverse("request-action", args=[request.pk, a])
            for a in ("submit", "approve", "reject", "dispatch", "receive", "cancel")
        ),
        reverse("flag-acknowledge", args=["shortfalls", flag.pk]),
        reverse("flag-acknowledge", args=["discrepancies", discrepancy.pk]),
        reverse("discrepancy-resolve", args=[discrepancy.pk]),
        reverse("reconciliation-start"),
        reverse("notification-read-all"),
    ]
    return [("get", u) for u in get] + [("post", u) for u in post]


def test_anonymous_is_sent_to_the_login_page_from_every_page_and_action(world, browser):
    anonymous = browser("anonymous")
    for method, url in every_url(world):
        response = getattr(anonymous, method)(url)
        assert response.status_code == 302, (method, url, response.status_code)
        assert response["Location"].startswith(reverse("login") + "?next="), (method, url)


def test_anonymous_htmx_action_changes_nothing(world, browser):
    request = make_request(world)
    response = browser("anonymous").post(reverse("request-action", args=[request.pk, "cancel"]), headers=HTMX)
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == RequestStatus.SUBMITTED


def test_the_login_page_is_public(world, browser):
    response = browser("anonymous").get(reverse("login"))
    assert response.status_code == 200
    assert b'name="password"' in response.content


# --- pages everyone signed in may open ----------------------------------------------------------------------------


@pytest.mark.parametrize("user", HUMANS)
def test_every_signed_in_user_opens_the_common_pages(world, browser, user):
    client = browser(user)
    for name in (
        "home",
        "stock-list",
        "center-list",
        "request-list",
        "shortfall-list",
        "discrepancy-list",
        "reconciliation-list",
        "notification-list",
    ):
        response = client.get(reverse(name))
        assert response.status_code == 200, (user, name)
    assert client.get(reverse("center-detail", args=["MLC-A"])).status_code == 200


def test_an_unknown_center_is_404(world, browser):
    assert browser("coordinator").get(reverse("center-detail", args=["MLC-NOWHERE"])).status_code == 404


def test_an_unknown_run_is_404(world, browser):
    assert browser("coordinator").get(reverse("reconciliation-progress", args=[999999])).status_code == 404


def test_a_404_page_says_nothing_about_what_exists(world, browser):
    response = browser("ita_logistics").get(reverse("stock-detail", args=[world.stocks["fra_private"].pk]))
    assert response.status_code == 404
    assert b"Not found" in response.content
    assert world.rations.name.encode() not in response.content and b"FRA" not in response.content


# --- stocks --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stock_name", sorted(STOCK_VIEWERS))
def test_stock_page_is_visible_exactly_to_those_the_rules_name(world, browser, stock_name):
    stock = world.stocks[stock_name]
    url = reverse("stock-detail", args=[stock.pk])
    for user in HUMANS:
        expected = 200 if user in STOCK_VIEWERS[stock_name] else 404
        assert browser(user).get(url).status_code == expected, (stock_name, user)


def test_a_missing_stock_is_404(world, browser):
    assert browser("coordinator").get(reverse("stock-detail", args=[999999])).status_code == 404


@pytest.mark.parametrize("user", HUMANS)
def test_stock_list_holds_exactly_the_visible_stocks(world, browser, user):
    html = browser(user).get(reverse("stock-list")).content.decode()
    expected = {world.stocks[name].pk for name, viewers in STOCK_VIEWERS.items() if user in viewers}
    assert ids(r'href="/stocks/(\d+)/"', html) == expected


def test_stock_list_filters_and_sorts(world, browser):
    client = browser("mlc_a_operator")  # sees the three stocks at MLC-A
    fuel, rations = world.stocks["deu_shared"], world.stocks["fra_private"]

    def listed(query: str) -> list[int]:
        html = client.get(reverse("stock-list") + query).content.decode()
        return [int(pk) for pk in re.findall(r'href="/stocks/(\d+)/"', html)]

    assert listed("?shared=true") == [fuel.pk]
    assert set(listed("?nation=fra")) == {rations.pk}
    assert set(listed("?supply_class=III")) == {fuel.pk}
    assert set(listed("?q=ration")) == {rations.pk, world.stocks["deu_private"].pk}
    assert set(listed("?q=9130-12")) == {fuel.pk}
    assert listed("?sort=on_hand") == [rations.pk, world.stocks["deu_private"].pk, fuel.pk]  # 50, 100, 200
    assert listed("?sort=-on_hand") == [fuel.pk, world.stocks["deu_private"].pk, rations.pk]
    world.stocks["fra_private"].safety_level = 60  # 50 available: below safety
    world.stocks["fra_private"].save(update_fields=["safety_level"])
    assert listed("?below_safety=true") == [rations.pk]


def read_csv(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


CSV_HEADER = [
    "center",
    "nation",
    "nsn",
    "item",
    "supply_class",
    "unit",
    "on_hand",
    "reserved",
    "available",
    "safety_level",
    "daily_consumption",
    "shared",
    "updated_at",
    "releasable_to",
]


@pytest.mark.parametrize("user", ["fra_logistics", "ita_logistics", "coordinator", "mlc_a_operator", "no_role"])
def test_csv_export_holds_the_header_and_only_visible_rows(world, browser, user):
    rows = read_csv(browser(user).get(reverse("stock-list") + "?format=csv"))
    assert rows[0] == CSV_HEADER
    expected = {
        (s.center.code, s.nation.code, s.item.nsn, str(s.on_hand), "yes" if s.shared else "no")
        for name, s in world.stocks.items()
        if user in STOCK_VIEWERS[name]
    }
    assert {(r[0], r[1], r[2], r[6], r[11]) for r in rows[1:]} == expected
    assert len(rows) - 1 == len(expected)


def test_csv_export_follows_the_filters_and_writes_plain_numbers(world, browser):
    stock = world.stocks["deu_shared"]
    stock.safety_level, stock.daily_consumption = 12500, "1250.50"
    stock.save(update_fields=["safety_level", "daily_consumption"])
    client = browser("fra_logistics")
    client.post(reverse("set_language"), {"language": "fr"})  # a French user exports the same machine figures
    rows = read_csv(client.get(reverse("stock-list") + "?format=csv&shared=true"))
    assert rows[1:] == [
        [
            "MLC-A",
            "DEU",
            stock.item.nsn,
            "Diesel fuel",
            "III",
            "L",
            "200",
            "0",
            "200",
            "12500",
            "1250.50",
            "yes",
            rows[1][12],
            "ALL",
        ]
    ]


# --- centers -------------------------------------------------------------------------------------------------------


def pool_row(html: str, nsn: str) -> list[str]:
    row = re.search(r"<tr><td><code>" + re.escape(nsn) + r"</code></td>(.*?)</tr>", html, re.S)
    assert row, nsn
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)]


def test_center_pool_totals_count_only_the_stocks_the_user_may_see(world, browser):
    fra = browser("fra_logistics").get(reverse("center-detail", args=["MLC-A"])).content.decode()
    # rations at MLC-A: FRA's 50 (own) and DEU's private 100, which FRA may not see
    assert pool_row(fra, world.rations.nsn)[1:5] == ["50 EA", "0", "50", "0"]
    assert pool_row(fra, world.fuel.nsn)[1:5] == ["200 L", "0", "200", "200"]
    assert ids(r'href="/stocks/(\d+)/"', fra) == {world.stocks["fra_private"].pk, world.stocks["deu_shared"].pk}

    operator = browser("mlc_a_operator").get(reverse("center-detail", args=["MLC-A"])).content.decode()
    assert pool_row(operator, world.rations.nsn)[1:5] == ["150 EA", "0", "150", "0"]

    ita = browser("ita_logistics").get(reverse("center-detail", args=["MLC-A"])).content.decode()
    assert "Nothing you may see is held here." in ita
    assert ids(r'href="/stocks/(\d+)/"', ita) == set()


def test_reconcile_link_on_a_center_page_only_for_those_who_may_start_it(world, browser):
    link = f'href="{reverse("reconciliation-list")}?center=MLC-A"'
    for user, shown in (
        ("coordinator", True),
        ("mlc_a_operator", True),
        ("nat_b_operator", False),
        ("fra_logistics", False),
        ("deu_liaison", False),
    ):
        html = browser(user).get(reverse("center-detail", args=["MLC-A"])).content.decode()
        assert (link in html) is shown, user


# --- requests ------------------------------------------------------------------------------------------------------


def test_request_page_is_visible_exactly_to_those_the_rules_name(world, browser):
    request = make_request(world)
    url = reverse("request-detail-page", args=[request.pk])
    for user in HUMANS:
        expected = 200 if user in REQUEST_VIEWERS else 404
        assert browser(user).get(url).status_code == expected, user


def test_a_missing_request_is_404(world, browser):
    assert browser("coordinator").get(reverse("request-detail-page", args=[999999])).status_code == 404


@pytest.mark.parametrize("user", HUMANS)
def test_request_list_holds_exactly_the_visible_requests(world, browser, user):
    request = make_request(world)
    html = browser(user).get(reverse("request-list")).content.decode()
    assert ids(r'href="/requests/(\d+)/"', html) == ({request.pk} if user in REQUEST_VIEWERS else set())


def test_request_list_filters_by_status(world, browser):
    submitted, approved = make_request(world), make_request(world, RequestStatus.APPROVED)
    client = browser("fra_logistics")
    html = client.get(reverse("request-list") + "?status=approved").content.decode()
    assert ids(r'href="/requests/(\d+)/"', html) == {approved.pk}
    html = client.get(reverse("request-list") + "?status=approved&status=submitted").content.decode()
    assert ids(r'href="/requests/(\d+)/"', html) == {approved.pk, submitted.pk}
    assert 'class="status status-approved">Approved<' in html


def test_new_request_link_only_for_logistics_officers(world, browser):
    link = f'href="{reverse("request-new")}"'
    for user, shown in (
        ("fra_logistics", True),
        ("dual_hat", True),
        ("fra_liaison", False),
        ("mlc_a_operator", False),
        ("coordinator", False),
    ):
        assert (link in browser(user).get(reverse("request-list")).content.decode()) is shown, user


# --- flags ---------------------------------------------------------------------------------------------------------


def test_shortfall_list_holds_exactly_the_visible_shortfalls(world, browser):
    flags = {name: shortfall_on(stock) for name, stock in world.stocks.items()}
    for user in HUMANS:
        html = browser(user).get(reverse("shortfall-list") + "?scope=all").content.decode()
        # each row links to its stock; no other stock is linked from the list (every scope: "all I can see")
        expected = {world.stocks[name].pk for name, viewers in STOCK_VIEWERS.items() if user in viewers}
        assert ids(r'href="/stocks/(\d+)/"', html) == expected, user
    assert len(flags) == 5


def test_discrepancy_list_holds_exactly_the_visible_discrepancies(world, browser):
    seeder = world.seeder
    flags = {
        name: count_discrepancy_on(stock, counted=stock.on_hand + 1, by=seeder) for name, stock in world.stocks.items()
    }
    for user in HUMANS:
        html = browser(user).get(reverse("discrepancy-list")).content.decode()
        expected = {world.stocks[name].pk for name, viewers in STOCK_VIEWERS.items() if user in viewers}
        assert ids(r'href="/stocks/(\d+)/"', html) == expected, user
        assert ids(r'id="disc-(\d+)"', html) == {
            flags[name].pk for name in STOCK_VIEWERS if user in STOCK_VIEWERS[name]
        }, user


def test_flag_lists_show_open_flags_by_default_and_filter(world, browser):
    open_flag = shortfall_on(world.stocks["fra_private"])
    resolved = shortfall_on(world.stocks["deu_shared"], kind="low_days_of_supply")
    resolved.resolved_at = resolved.last_seen
    resolved.save(update_fields=["resolved_at"])
    client = browser("fra_logistics")
    acknowledgeable = r'name="flags" value="([\d,]+)" form="flg-ack"'  # one checkbox per stock: its open flags
    html = client.get(reverse("shortfall-list") + "?scope=all").content.decode()
    assert set(re.findall(acknowledgeable, html)) == {str(open_flag.pk)}
    html = client.get(reverse("shortfall-list") + "?scope=all&open=false").content.decode()
    assert "Resolved" in html and not re.findall(acknowledgeable, html)


# --- dashboard -----------------------------------------------------------------------------------------------------


def queue(html: str, name: str) -> set[str]:
    section = re.search(rf'<section class="card" aria-labelledby="q-{name}">(.*?)</section>', html, re.S)
    return set(re.findall(r"REQ-\d+", section.group(1))) if section else set()


def test_dashboard_queues_are_the_work_waiting_for_each_role(world, browser):
    submitted = make_request(world)
    approved = make_request(world, RequestStatus.APPROVED)
    dispatched = make_request(world, RequestStatus.DISPATCHED)
    draft = make_request(world, RequestStatus.DRAFT)

    deu_liaison = browser("deu_liaison").get(reverse("home")).content.decode()
    assert queue(deu_liaison, "approval") == {submitted.reference}
    assert queue(deu_liaison, "dispatch") == set()

    operator = browser("mlc_a_operator").get(reverse("home")).content.decode()
    assert queue(operator, "dispatch") == {approved.reference}
    assert queue(operator, "approval") == set()

    fra = browser("fra_logistics").get(reverse("home")).content.decode()
    assert queue(fra, "receipt") == {dispatched.reference}
    assert queue(fra, "draft") == {draft.reference}
    assert queue(fra, "approval") == set()

    ita = browser("ita_logistics").get(reverse("home")).content.decode()
    assert not re.findall(r"REQ-\d+", ita)  # nothing of FRA's and DEU's business, not even in recent activity


def test_dashboard_counts_only_the_users_nations_shortfalls(world, browser):
    shortfall_on(world.stocks["fra_private"], severity="critical")
    shortfall_on(world.stocks["deu_shared"])
    html = browser("fra_logistics").get(reverse("home")).content.decode()
    counts = re.findall(r'<span class="badge (critical|warning)">\w+</span> (\d+)</a>', html)
    assert dict(counts) == {"critical": "1", "warning": "0"}


# --- reconciliation and notifications ------------------------------------------------------------------------------


def test_run_now_form_only_for_those_who_may_start_a_run(world, browser):
    action = f'action="{reverse("reconciliation-start")}"'
    for user, shown in (
        ("coordinator", True),
        ("mlc_a_operator", True),
        ("fra_logistics", False),
        ("deu_liaison", False),
        ("no_role", False),
    ):
        assert (action in browser(user).get(reverse("reconciliation-list")).content.decode()) is shown, user
    html = browser("mlc_a_operator").get(reverse("reconciliation-list")).content.decode()
    assert re.findall(
        r'<option value="([^"]*)"', re.search(r'<select name="center".*?</select>', html, re.S).group(0)
    ) == ["MLC-A"]  # an operator runs their own center only, never all of them


def test_progress_fragment_polls_until_the_run_finishes(world, browser):
    run = start_reconciliation(user=world.users["coordinator"], center=None, trigger="test")
    html = browser("coordinator").get(reverse("reconciliation-progress", args=[run.pk]), headers=HTMX)
    assert html.status_code == 200
    assert 'hx-trigger="every 1s"' in html.content.decode()
    run.status, run.centers_done = "succeeded", run.centers_total
    run.findings = {"count_mismatch": 2, "pool_items": 3}
    run.save()
    html = browser("coordinator").get(reverse("reconciliation-progress", args=[run.pk])).content.decode()
    assert 'hx-trigger="every 1s"' not in html
    assert "Physical count differs from the books: 2" in html and "Pool items refreshed: 3" in html


def test_notifications_are_each_users_own(world, browser):
    mine = Notification.objects.create(user=world.users["fra_logistics"], event="request.approved", title="Mine")
    theirs = Notification.objects.create(user=world.users["deu_liaison"], event="request.approved", title="Theirs")
    html = browser("fra_logistics").get(reverse("notification-list")).content.decode()
    assert "Mine" in html and "Theirs" not in html
    assert 'id="unread-count">1<' in html

    # someone else's notification is not there for this user (404, as in the API), and stays unread
    assert browser("fra_logistics").post(reverse("notification-read", args=[theirs.pk])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None
    response = browser("fra_logistics").post(reverse("notification-read", args=[mine.pk]))
    assert response.status_code == 302
    mine.refresh_from_db()
    assert mine.read_at is not None
    assert 'id="unread-count"' not in browser("fra_logistics").get(reverse("home")).content.decode()
