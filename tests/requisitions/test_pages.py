"""The requisition pages (coordination/requisition_views.py): the list, the line editor, the requisition's page with
its buttons, and the request page's link back to its requisition; who sees what, and refusals shown in the page.

The scenario (tests/requisitions/conftest.py): FRA raises requisitions for NAT-F; DEU (200) and ITA (150) hold
shared fuel at MLC-A; DEU holds jet fuel (500), a substitute for fuel; rations are nobody's to give."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.test import Client
from django.urls import reverse

from coordination import requisitions, services
from coordination.models import RequestStatus, Requisition, RequisitionStatus, SupplyRequest
from coordination.requisitions import LineInput
from nations.roles import Role
from tests.requisitions.conftest import in_days, raise_requisition
from tests.scenario import users_with_roles

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def browser(world):
    """``browser("deu_liaison")``: a client signed in as that scenario user ("anonymous": signed in as nobody)."""
    clients: dict[str, Client] = {}

    def get(name: str) -> Client:
        if name not in clients:
            clients[name] = Client()
            if name != "anonymous":
                clients[name].force_login(world.users[name])
        return clients[name]

    return get


def page(client, url, status=200, **kwargs) -> str:
    response = client.get(url, **kwargs)
    assert response.status_code == status, (url, response.status_code)
    return unescape(response.content.decode())


def detail_url(requisition) -> str:
    return reverse("requisition-detail-page", args=[requisition.pk])


def action_url(requisition, action) -> str:
    return reverse("requisition-action", args=[requisition.pk, action])


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def editor_post(world, rows, *, action="draft", blank_rows=2, **header) -> dict:
    """The new-requisition form as a browser posts it: the header, `rows` ((nsn text, quantity, own RDD, subs)),
    then blank rows."""
    data = {
        "requesting_nation": "FRA",
        "destination_center": "NAT-F",
        "required_by": in_days(10).isoformat(),
        "urgency": "B",
        "justification": "Resupply of the 2nd battalion",
        "action": action,
        **header,
    }
    all_rows = list(rows) + [("", "", "", False)] * blank_rows
    for i, (nsn, quantity, rdd, substitutes) in enumerate(all_rows):
        data.update({f"lines-{i}-nsn": nsn, f"lines-{i}-quantity": str(quantity), f"lines-{i}-required_by": rdd})
        if substitutes:
            data[f"lines-{i}-allow_substitutes"] = "on"
    data.update({"lines-TOTAL_FORMS": str(len(all_rows)), "lines-INITIAL_FORMS": "0"})
    return data


def requisition_due(world, required_by, *, urgency):
    """A submitted FRA requisition of 5 fuel for NAT-F, required by `required_by`."""
    return requisitions.create_requisition(
        requester=world.users["fra_logistics"],
        requesting_nation=world.fra,
        destination_center=world.nat_f,
        required_by=required_by,
        justification="Resupply",
        urgency=urgency,
        lines=[LineInput(item=world.fuel, quantity=5)],
        submit=True,
    )


def requests_of(requisition) -> list[SupplyRequest]:
    return list(requisition.requests.select_related("supplying_nation", "item").order_by("id"))


# --- the list ------------------------------------------------------------------------------------------------------


def test_the_list_shows_each_role_the_requisitions_it_may_see(world, browser):
    req = raise_requisition(world, [(world.fuel, 100)])  # DEU alone supplies it (the larger spare at MLC-A)
    for role in ("fra_logistics", "fra_liaison", "nat_f_operator", "coordinator", "deu_liaison", "mlc_a_operator"):
        assert req.reference in page(browser(role), reverse("requisition-list")), role
    for role in ("ita_liaison", "nat_b_operator", "no_role"):
        assert req.reference not in page(browser(role), reverse("requisition-list")), role
    assert browser("anonymous").get(reverse("requisition-list"))["Location"].startswith("/login/")


def test_the_list_offers_new_requisition_to_logistics_officers_only(world, browser):
    assert 'data-testid="new-requisition"' in page(browser("fra_logistics"), reverse("requisition-list"))
    assert 'data-testid="new-requisition"' not in page(browser("fra_liaison"), reverse("requisition-list"))
    assert ">Requisitions</a>" in page(browser("no_role"), reverse("home"))  # the menu's link


def test_the_list_puts_the_most_pressing_designator_first_then_the_soonest_rdd(world, browser):
    routine = raise_requisition(world, [(world.fuel, 5)], urgency="C")  # FAD IV, C: 14
    late = requisition_due(world, in_days(20), urgency="A")  # FAD IV, A: 07
    soon = requisition_due(world, in_days(2), urgency="A")
    html = page(browser("fra_logistics"), reverse("requisition-list"))
    order = [m for m in re.findall(r"RQN-\d{6}", html)]
    assert order == [soon.reference, late.reference, routine.reference]
    assert "07 · A" in html and "14 · C" in html


def test_the_list_counts_lines_and_lines_outstanding_and_filters_by_status_and_destination(world, browser):
    open_one = raise_requisition(world, [(world.fuel, 400), (world.rations, 10), (world.jet, 20)])
    draft = raise_requisition(world, [(world.fuel, 5)], submit=False)
    client = browser("fra_logistics")
    csv = b"".join(client.get(reverse("requisition-list") + "?format=csv").streaming_content).decode()
    rows = {line.split(",")[0]: line.split(",") for line in csv.splitlines()}
    assert rows["reference"][-2:] == ["line_count", "lines_outstanding"]
    assert rows[open_one.reference][-2:] == ["3", "2"]  # fuel short by 50, rations unsourced; jet covered
    assert rows[open_one.reference][4:7] == ["09", "B", "open"]
    html = page(client, reverse("requisition-list") + "?status=draft")
    assert draft.reference in html and open_one.reference not in html
    assert '<select name="status"' in html and '<select name="destination_center"' in html
    assert open_one.reference not in page(client, reverse("requisition-list") + "?destination_center=MLC-A")


def test_a_supplier_in_the_list_sees_its_lines_and_not_the_requesters_backorders(world, browser):
    req = raise_requisition(world, [(world.fuel, 400), (world.rations, 10), (world.jet, 20)])
    csv = b"".join(browser("ita_liaison").get(reverse("requisition-list") + "?format=csv").streaming_content)
    (row,) = [line.split(",") for line in csv.decode().splitlines() if line.startswith(req.reference)]
    assert row[-2:] == ["1", ""]  # ITA supplies one line; what is outstanding is FRA's business


# --- the new-requisition page --------------------------------------------------------------------------------------


def test_the_new_page_is_for_logistics_officers(world, browser):
    html = page(browser("fra_logistics"), reverse("requisition-new"))
    assert html.count('data-testid="line-row"') == 5
    assert 'type="date" name="required_by"' in html  # IsoDateInput
    assert "A: unable to perform the mission" in html and "B: mission impaired" in html
    assert 'data-item-lookup=""' in html and 'hx-get="/items/lookup/"' in html and '<datalist id="item-list">' in html
    assert 'name="requesting_nation" value="FRA"' in html  # one nation: no choice to make
    for role in ("fra_liaison", "deu_liaison", "nat_f_operator", "coordinator", "no_role"):
        page(browser(role), reverse("requisition-new"), status=403)
    assert browser("fra_logistics").post(reverse("requisition-new"), {}).status_code == 400


def test_an_officer_of_several_nations_chooses_the_nation(world):
    users = users_with_roles({"two_hats": [(Role.LOGISTICS, world.fra), (Role.LOGISTICS, world.deu)]})
    client = Client()
    client.force_login(users["two_hats"])
    html = page(client, reverse("requisition-new"))
    assert '<select name="requesting_nation"' in html and 'value="DEU"' in html and 'value="ITA"' not in html


def test_extra_opens_the_editor_with_that_many_rows(world, browser):
    client = browser("fra_logistics")
    assert page(client, reverse("requisition-new") + "?extra=12").count('data-testid="line-row"') == 12
    assert page(client, reverse("requisition-new") + "?extra=nonsense").count('data-testid="line-row"') == 5


def test_the_line_editor_creates_a_three_line_draft(world, browser):
    rows = [
        (world.fuel.nsn, 120, "", True),
        ("8970140000001", 10, in_days(20).isoformat(), False),  # the NSN without dashes
        ("Jet fuel JP-8", 30, "", False),  # an item's exact name
    ]
    response = browser("fra_logistics").post(reverse("requisition-new"), editor_post(world, rows))

    req = Requisition.objects.get()
    assert response.status_code == 302 and response["Location"] == detail_url(req)
    assert (req.status, req.urgency, req.priority_designator, req.requesting_nation) == ("draft", "B", 9, world.fra)
    lines = [
        (line.number, line.item, line.quantity, line.required_by, line.allow_substitutes) for line in req.lines.all()
    ]
    assert lines == [
        (1, world.fuel, 120, None, True),
        (2, world.rations, 10, in_days(20), False),
        (3, world.jet, 30, None, False),
    ]
    assert not SupplyRequest.objects.exists()  # a draft sources nothing
    assert f"{req.reference} saved as a draft." in page(browser("fra_logistics"), response["Location"])


def test_a_row_ticked_remove_is_left_out(world, browser):
    data = editor_post(world, [(world.fuel.nsn, 1, "", False), (world.rations.nsn, 2, "", False)])
    data["lines-0-DELETE"] = "on"
    browser("fra_logistics").post(reverse("requisition-new"), data)
    assert [line.item for line in Requisition.objects.get().lines.all()] == [world.rations]


def test_bad_lines_are_shown_on_their_rows_and_create_nothing(world, browser):
    rows = [
        (world.fuel.nsn, 5, "", False),
        ("0000-00-000-0000", 5, "", False),
        (world.rations.nsn, 0, "", False),
        (world.jet.nsn, 3, in_days(-2).isoformat(), False),
    ]
    response = browser("fra_logistics").post(reverse("requisition-new"), editor_post(world, rows))
    assert response.status_code == 400
    html = unescape(response.content.decode())
    assert "No item in the catalog has this NSN or name" in html
    assert "Ensure this value is greater than or equal to 1." in html
    assert html.count('class="rqn-invalid"') == 2  # the past date is the service's rule: once the rest is right
    assert not Requisition.objects.exists()

    rows = [(world.fuel.nsn, 5, "", False), (world.jet.nsn, 3, in_days(-2).isoformat(), False)]
    response = browser("fra_logistics").post(reverse("requisition-new"), editor_post(world, rows))
    assert response.status_code == 400
    html = unescape(response.content.decode())
    assert "The required delivery date is in the past." in html and html.count('class="rqn-invalid"') == 1
    assert not Requisition.objects.exists()


def test_an_nsn_twice_and_no_lines_at_all_are_refused(world, browser):
    client = browser("fra_logistics")
    rows = [(world.fuel.nsn, 5, "", False), (world.fuel.nsn, 3, "", False)]
    response = client.post(reverse("requisition-new"), editor_post(world, rows))
    assert response.status_code == 400 and "is on line 1 already" in unescape(response.content.decode())
    response = client.post(reverse("requisition-new"), editor_post(world, [], blank_rows=3))
    assert response.status_code == 400 and "Add at least one line." in response.content.decode()
    response = client.post(reverse("requisition-new"), editor_post(world, [(world.fuel.nsn, 5, "", False)], action="x"))
    assert response.status_code == 400
    assert not Requisition.objects.exists()


def test_add_rows_keeps_what_was_typed_with_and_without_htmx(world, browser):
    client = browser("fra_logistics")
    data = editor_post(world, [(world.fuel.nsn, 7, "", True)], action="add", blank_rows=1, justification="")
    data["add_count"] = "3"
    html = unescape(client.post(reverse("requisition-new"), data).content.decode())
    assert html.count('data-testid="line-row"') == 5
    assert f'name="lines-0-nsn" value="{world.fuel.nsn}"' in html and 'name="lines-0-quantity" value="7"' in html
    assert 'name="lines-0-allow_substitutes" id="id_lines-0-allow_substitutes" checked' in html
    assert "This field is required." not in html  # adding rows is not saving: no errors yet

    response = client.post(reverse("requisition-new"), {**data, "add_count": ""}, headers=HTMX)
    fragment = unescape(response.content.decode())
    assert response.status_code == 200 and "<html" not in fragment and 'id="line-editor"' in fragment
    assert fragment.count('data-testid="line-row"') == 3 and 'name="lines-TOTAL_FORMS" value="3"' in fragment
    assert not Requisition.objects.exists()


def test_submit_from_the_page_sources_the_lines_and_the_page_shows_the_split(world, browser):
    client = browser("fra_logistics")
    rows = [(world.fuel.nsn, 400, "", False), (world.rations.nsn, 10, "", False)]
    response = client.post(reverse("requisition-new"), editor_post(world, rows, action="submit"))
    req = Requisition.objects.get()
    assert response.status_code == 302 and req.status == RequisitionStatus.OPEN

    html = page(client, response["Location"])
    assert "Submitted. 2 requests raised (line 1: 200 from DEU at MLC-A; line 1: 150 from ITA at MLC-A)." in html
    assert "Still outstanding, for no source could cover it: line 1: 50; line 2: 10." in html
    line_1 = html.split('data-testid="line-1"')[1].split("</tbody>")[0]
    assert re.findall(r'<td class="num[^"]*"[^>]*>(\d+)</td>', line_1) == ["400", "350", "0", "0", "0", "0", "50"]
    for r in requests_of(req):
        assert f'<a href="/requests/{r.pk}/">{r.reference}</a> · {r.supplying_nation.code} from MLC-A' in html
    assert 'data-testid="designator">09<' in html and "FAD IV" in html and "priority group 3" in html
    assert "120 hours from submission" in html and "72 hours from approval" in html


# --- the requisition's page ----------------------------------------------------------------------------------------


def test_the_requisition_page_answers_the_roles_that_may_see_it_and_404_to_the_others(world, browser):
    req = raise_requisition(world, [(world.fuel, 100)])  # DEU's fuel at MLC-A
    for role in ("fra_logistics", "fra_liaison", "nat_f_operator", "coordinator", "deu_liaison", "mlc_a_operator"):
        assert req.reference in page(browser(role), detail_url(req)), role
    for role in ("ita_liaison", "ita_logistics", "nat_b_operator", "no_role"):
        page(browser(role), detail_url(req), status=404)
        assert browser(role).post(action_url(req, "resource")).status_code == 404, role
    page(browser("fra_logistics"), reverse("requisition-detail-page", args=[req.pk + 1000]), status=404)
    assert browser("anonymous").get(detail_url(req))["Location"].startswith("/login/")


def test_a_draft_is_submitted_or_withdrawn_from_its_page(world, browser):
    draft = raise_requisition(world, [(world.fuel, 120)], submit=False)
    client = browser("fra_logistics")
    html = page(client, detail_url(draft))
    assert 'data-testid="requisition-submit"' in html and 'data-testid="requisition-cancel"' in html
    assert 'data-testid="resource"' not in html
    assert 'data-testid="requisition-submit"' not in page(browser("coordinator"), detail_url(draft))

    response = client.post(action_url(draft, "submit"), headers=HTMX)
    fragment = unescape(response.content.decode())
    assert response.status_code == 200 and "<html" not in fragment
    assert "Submitted. 1 request raised (line 1: 120 from DEU at MLC-A)." in fragment
    draft.refresh_from_db()
    assert draft.status == RequisitionStatus.OPEN and len(requests_of(draft)) == 1

    response = client.post(action_url(draft, "cancel"))  # no longer a draft
    assert response.status_code == 409 and f"{draft.reference} is open." in unescape(response.content.decode())

    other = raise_requisition(world, [(world.fuel, 5)], submit=False)
    response = client.post(action_url(other, "cancel"))
    assert response.status_code == 302
    other.refresh_from_db()
    assert other.status == RequisitionStatus.CANCELLED
    assert f"{other.reference} was withdrawn." in page(client, detail_url(other))


def test_resource_and_cancel_outstanding_report_what_they_did_and_refuse_when_nothing_is_outstanding(world, browser):
    req = raise_requisition(world, [(world.fuel, 120), (world.rations, 10)])
    (deu_request,) = requests_of(req)
    services.reject_request(request=deu_request, approver=world.users["deu_liaison"], reason="Not this week")
    client = browser("fra_logistics")
    html = page(client, detail_url(req))
    assert 'data-testid="resource"' in html and 'data-testid="cancel-outstanding"' in html
    assert "130 outstanding in all" in html

    # the ticked line alone: DEU refused it, so ITA is asked
    response = client.post(action_url(req, "resource"), {"lines": ["1"]})
    assert response.status_code == 302
    assert "1 request raised (line 1: 120 from ITA at MLC-A)." in page(client, detail_url(req))
    assert [(r.supplying_nation.code, r.status) for r in requests_of(req)] == [
        ("DEU", "rejected"),
        ("ITA", "submitted"),
    ]

    # every line: nobody can give rations; said so, and no error (it stays outstanding)
    response = client.post(action_url(req, "resource"), headers=HTMX)
    fragment = unescape(response.content.decode())
    assert response.status_code == 200
    assert "No source could supply any of it. Still outstanding, for no source could cover it: line 2: 10." in fragment

    response = client.post(action_url(req, "cancel-outstanding"), {"lines": ["2"]})
    assert response.status_code == 302
    html = page(client, detail_url(req))
    assert "10 outstanding cancelled; nobody will be asked for it again." in html
    assert 'data-testid="outstanding">0<' in html.split('data-testid="line-2"')[1]

    for action in ("resource", "cancel-outstanding"):
        response = client.post(action_url(req, action))
        assert response.status_code == 409, action
        html = unescape(response.content.decode())
        assert "Nothing is outstanding on these lines." in html and "<html" in html  # the page, with the message
        response = client.post(action_url(req, action), headers=HTMX)
        assert response.status_code == 409 and "Nothing is outstanding on these lines." in response.content.decode()
    assert len(requests_of(req)) == 2


def test_cancelling_the_last_outstanding_closes_the_requisition(world, browser):
    req = raise_requisition(world, [(world.rations, 10)])  # nobody can give rations: all outstanding
    response = browser("fra_logistics").post(action_url(req, "cancel-outstanding"))
    assert response.status_code == 302
    req.refresh_from_db()
    assert req.status == RequisitionStatus.CLOSED
    html = page(browser("fra_logistics"), detail_url(req))
    assert "the requisition is closed" in html and 'data-testid="resource"' not in html


def test_only_the_requester_may_press_the_buttons(world, browser):
    req = raise_requisition(world, [(world.fuel, 400)])
    for role in ("deu_liaison", "coordinator", "nat_f_operator", "fra_liaison"):
        assert 'data-testid="resource"' not in page(browser(role), detail_url(req)), role
        response = browser(role).post(action_url(req, "resource"))
        assert response.status_code == 403, role
        assert "You may not re-source this requisition." in unescape(response.content.decode())
    assert len(requests_of(req)) == 2


def test_unknown_actions_are_404_and_get_is_405(world, browser):
    req = raise_requisition(world, [(world.fuel, 5)])
    assert browser("fra_logistics").post(action_url(req, "approve")).status_code == 404
    assert browser("fra_logistics").get(action_url(req, "resource")).status_code == 405
    response = browser("fra_logistics").post(action_url(req, "resource"), {"lines": ["one"]})
    assert response.status_code == 400


def test_a_supplier_sees_only_its_lines_and_its_own_requests(world, browser):
    req = raise_requisition(world, [(world.fuel, 400), (world.jet, 50), (world.rations, 10)])
    deu, ita = (r for r in requests_of(req) if r.item == world.fuel)  # DEU 200, ITA 150; DEU's jet too
    (jet,) = [r for r in requests_of(req) if r.item == world.jet]

    html = page(browser("ita_liaison"), detail_url(req))
    assert 'data-testid="line-1"' in html and 'data-testid="line-2"' not in html and 'data-testid="line-3"' not in html
    assert ita.reference in html and deu.reference not in html and jet.reference not in html
    assert world.jet.nsn not in html and world.rations.nsn not in html
    line_1 = html.split('data-testid="line-1"')[1].split("</tbody>")[0]
    assert re.findall(r'<td class="num[^"]*"[^>]*>([\d—]+)</td>', line_1) == ["400", "150", "0", "0", "0", "—", "—"]
    assert 'data-testid="supplier-part"' in html and 'data-testid="resource"' not in html

    html = page(browser("deu_liaison"), detail_url(req))
    assert 'data-testid="line-1"' in html and 'data-testid="line-2"' in html and 'data-testid="line-3"' not in html
    assert deu.reference in html and jet.reference in html and ita.reference not in html

    html = page(browser("fra_logistics"), detail_url(req))
    assert all(f'data-testid="line-{n}"' in html for n in (1, 2, 3))
    assert all(r.reference in html for r in (deu, ita, jet))


def test_a_suppliers_liaison_officer_is_sent_to_decide_its_lines(world, browser):
    req = raise_requisition(world, [(world.fuel, 100)])
    link = f'href="/requests/approvals/?requisition={req.reference}" data-testid="decide-lines"'
    assert link in page(browser("deu_liaison"), detail_url(req))
    for role in ("fra_logistics", "deu_logistics", "coordinator"):
        assert 'data-testid="decide-lines"' not in page(browser(role), detail_url(req)), role
    (r,) = requests_of(req)
    services.approve_request(request=r, approver=world.users["deu_liaison"])
    assert 'data-testid="decide-lines"' not in page(browser("deu_liaison"), detail_url(req))  # nothing left to decide


def test_a_substitute_is_marked_as_such(world, browser):
    req = raise_requisition(world, [LineInput(item=world.fuel, quantity=400, allow_substitutes=True)])
    html = page(browser("fra_logistics"), detail_url(req))
    substitutes = re.findall(r'data-testid="line-request">(.*?)</li>', html)
    assert len(substitutes) == 3
    assert sum('data-testid="substitute"' in s for s in substitutes) == 1
    (marked,) = [s for s in substitutes if "substitute" in s]
    assert "50 L" in marked and f"substitute: {world.jet.nsn} Jet fuel JP-8" in marked
    assert "substitutes allowed" in html


def test_figures_follow_approval_dispatch_and_receipt(world, browser):
    req = raise_requisition(world, [(world.fuel, 120)])
    (r,) = requests_of(req)
    users = world.users
    r = services.approve_request(request=r, approver=users["deu_liaison"], quantity=100)  # approved short
    r = services.dispatch_request(request=r, actor=users["deu_logistics"])
    services.receive_request(request=r, actor=users["nat_f_operator"], quantity=90)  # received short
    # sourced: the approved 100 (it asked 120); outstanding: the 20 approved short and the 10 received short
    html = page(browser("fra_logistics"), detail_url(req))
    line_1 = html.split('data-testid="line-1"')[1].split("</tbody>")[0]
    assert re.findall(r'<td class="num[^"]*"[^>]*>(\d+)</td>', line_1) == ["120", "100", "100", "100", "90", "0", "30"]
    assert SupplyRequest.objects.get(pk=r.pk).status == RequestStatus.RECEIVED


# --- the request page ----------------------------------------------------------------------------------------------


def test_a_request_page_names_its_requisition_line_for_whoever_sees_it(world, browser):
    req = raise_requisition(world, [(world.rations, 3), (world.fuel, 100)])
    (r,) = requests_of(req)
    url = reverse("request-detail-page", args=[r.pk])
    part_of = f'<a href="{detail_url(req)}">Part of {req.reference} line 2</a>'
    for role in ("fra_logistics", "deu_liaison", "mlc_a_operator", "coordinator"):
        assert part_of in page(browser(role), url), role

    alone = services.create_request(
        requester=world.users["fra_logistics"],
        requesting_nation=world.fra,
        supplying_nation=world.deu,
        item=world.fuel,
        source_center=world.mlc_a,
        destination_center=world.nat_f,
        quantity=1,
        required_by=in_days(5),
        justification="Alone",
    )
    assert 'data-testid="part-of"' not in page(
        browser("fra_logistics"), reverse("request-detail-page", args=[alone.pk])
    )


# --- French ----------------------------------------------------------------------------------------------------------


def test_the_pages_render_in_french(world, browser):
    req = raise_requisition(world, [(world.fuel, 400)])
    client = browser("fra_logistics")
    fr = {"headers": {"Accept-Language": "fr-FR,fr;q=0.9"}}
    for url in (reverse("requisition-list"), reverse("requisition-new"), detail_url(req)):
        html = page(client, url, **fr)
        assert '<html lang="fr">' in html and ">Demandes</a>" in html, url
    html = page(client, detail_url(req), **fr)
    assert 'data-testid="status">Ouverte<' in html and "Soumise" in html
    assert "Quantité" in page(client, reverse("requisition-new"), **fr)
    assert "Statut" in page(client, reverse("requisition-list"), **fr)
