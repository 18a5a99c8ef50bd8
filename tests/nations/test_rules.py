"""The parties of a supply request are stated twice, once per form they are needed in: ``rules.holds_party`` in
Python (may this user take this action on this request?) and ``visibility.party_condition`` in SQL (which
requests wait for this user: the dashboard queues).  The two must name the same requests for every user."""

from __future__ import annotations

import pytest

from coordination.models import SupplyRequest
from nations import access
from nations.access import visibility
from nations.access.rules import Party, holds_party
from tests.api.conftest import build_scenario
from tests.factories import SupplyRequestFactory


@pytest.fixture
def world(db):
    return build_scenario()


def requests_between_everyone(world) -> list[SupplyRequest]:
    """A request for every ordered pair of nations, over every pair of centers, raised by each of a few authors
    (among them dual_hat, who is FRA's logistics officer and DEU's liaison officer)."""
    nations = [world.fra, world.deu, world.ita]
    centers = [world.mlc_a, world.nat_b, world.nat_f]
    authors = [world.users[name] for name in ("fra_logistics", "dual_hat", "ita_logistics")]
    made = []
    for requesting in nations:
        for supplying in nations:
            if requesting == supplying:
                continue
            for source in centers:
                for destination in centers:
                    for author in authors:
                        made.append(
                            SupplyRequestFactory(
                                requesting_nation=requesting,
                                supplying_nation=supplying,
                                item=world.fuel,
                                source_center=source,
                                destination_center=destination,
                                created_by=author,
                            )
                        )
    return made


USERS = [
    "fra_logistics",
    "fra_liaison",
    "deu_logistics",
    "deu_liaison",
    "ita_logistics",
    "ita_liaison",
    "mlc_a_operator",
    "nat_b_operator",
    "nat_f_operator",
    "coordinator",
    "no_role",
    "dual_hat",
    "fra_system",
]


@pytest.mark.parametrize("party", list(Party))
def test_holds_party_and_party_condition_name_the_same_requests(world, party):
    made = requests_between_everyone(world)
    ids = [r.pk for r in made]
    for name in USERS:
        p = access.profile(world.users[name])
        in_python = {r.pk for r in made if holds_party(p, party, r)}
        in_sql = set(
            SupplyRequest.objects.filter(pk__in=ids)
            .filter(visibility.party_condition(p, party))
            .values_list("pk", flat=True)
        )
        assert in_python == in_sql, (party, name)


def test_the_comparison_is_not_vacuous(world):
    """Every party is held by someone on some request, and refused to someone on another."""
    made = requests_between_everyone(world)
    for party in Party:
        held = {
            (name, r.pk) for name in USERS for r in made if holds_party(access.profile(world.users[name]), party, r)
        }
        assert 0 < len(held) < len(USERS) * len(made), party


def test_the_author_never_acts_as_the_suppliers_liaison_officer(world):
    made = requests_between_everyone(world)
    p = access.profile(world.users["dual_hat"])
    # requests from ITA (dual_hat holds no role in ITA): only authorship decides
    own_to_deu = [
        r
        for r in made
        if r.created_by_id == p.user_id
        and r.supplying_nation_id == world.deu.pk
        and r.requesting_nation_id == world.ita.pk
    ]
    others_to_deu = [
        r
        for r in made
        if r.created_by_id != p.user_id
        and r.supplying_nation_id == world.deu.pk
        and r.requesting_nation_id == world.ita.pk
    ]
    assert own_to_deu and others_to_deu
    assert not any(holds_party(p, Party.SUPPLIER_LIAISON, r) for r in own_to_deu)
    assert all(holds_party(p, Party.SUPPLIER_LIAISON, r) for r in others_to_deu)
    queue = SupplyRequest.objects.filter(visibility.party_condition(p, Party.SUPPLIER_LIAISON))
    assert not queue.filter(created_by_id=p.user_id).exists()


def test_a_profile_that_is_never_the_party_gets_no_condition_at_all(world):
    """The dashboard shows no queue, rather than an empty one, to a user who can never be its party."""
    operator = access.profile(world.users["mlc_a_operator"])
    assert visibility.party_condition(operator, Party.REQUESTER) == visibility.NOTHING
    assert visibility.party_condition(operator, Party.SUPPLIER_LIAISON) == visibility.NOTHING
    assert visibility.party_condition(operator, Party.DISPATCHER) != visibility.NOTHING


def test_a_role_in_the_requesting_nation_rules_out_deciding_on_its_requests(world):
    """dual_hat is DEU's liaison officer and FRA's logistics officer: FRA's requests to DEU are never theirs to approve
    or reject (whoever raised them), in the rule and in the queue alike; ITA's requests to DEU are."""
    made = requests_between_everyone(world)
    p = access.profile(world.users["dual_hat"])
    fra_to_deu = [r for r in made if r.requesting_nation_id == world.fra.pk and r.supplying_nation_id == world.deu.pk]
    ita_to_deu = [
        r
        for r in made
        if r.requesting_nation_id == world.ita.pk
        and r.supplying_nation_id == world.deu.pk
        and r.created_by_id != p.user_id
    ]
    assert fra_to_deu and ita_to_deu
    assert not any(holds_party(p, Party.SUPPLIER_LIAISON, r) for r in fra_to_deu)
    assert all(holds_party(p, Party.SUPPLIER_LIAISON, r) for r in ita_to_deu)
    queue = SupplyRequest.objects.filter(visibility.party_condition(p, Party.SUPPLIER_LIAISON))
    assert not queue.filter(requesting_nation=world.fra).exists()
    assert queue.filter(requesting_nation=world.ita).exists()
