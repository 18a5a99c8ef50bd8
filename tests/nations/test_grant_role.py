"""`manage.py grant_role USERNAME ROLE [NATION_OR_CENTER] [--revoke]`."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from nations import access
from tests.factories import CenterFactory, NationFactory, UserFactory

User = get_user_model()


def grant_role(*args: str) -> str:
    out = StringIO()
    call_command("grant_role", *args, stdout=out)
    return out.getvalue()


def roles(username: str) -> list[tuple[str, str]]:
    return access.roles_of(User.objects.get(username=username))  # a fresh instance: no cached permissions


@pytest.fixture
def nation():
    return NationFactory(code="QFR", name="Testland")


@pytest.fixture
def center(nation):
    return CenterFactory(code="MLC-TEST", host_nation=nation)


@pytest.fixture
def officer():
    return UserFactory(username="officer")


@pytest.mark.django_db
def test_grants_a_nation_role_by_nation_code_in_any_case(nation, officer):
    output = grant_role("officer", "Logistics", "qfr")
    assert roles("officer") == [("Logistics officer", "QFR")]
    assert "Granted logistics officer (QFR) to officer" in output
    assert set(access.nation_ids_for(officer).values_list("id", flat=True)) == {nation.pk}


@pytest.mark.django_db
def test_grants_liaison_operator_and_coordinator_roles(nation, center, officer):
    grant_role("officer", "liaison", "QFR")
    grant_role("officer", "operator", "MLC-TEST")
    grant_role("officer", "coordinator")
    assert roles("officer") == [
        ("Liaison officer", "QFR"),
        ("Center operator", "MLC-TEST"),
        ("Alliance coordinator", "alliance"),
    ]


@pytest.mark.django_db
def test_granting_twice_is_one_grant(nation, officer):
    grant_role("officer", "logistics", "QFR")
    grant_role("officer", "logistics", "QFR")
    assert officer.groups.count() == 1
    assert roles("officer") == [("Logistics officer", "QFR")]


@pytest.mark.django_db
def test_revoke_takes_the_role_away_and_leaves_the_others(nation, center, officer):
    grant_role("officer", "logistics", "QFR")
    grant_role("officer", "operator", "MLC-TEST")
    output = grant_role("officer", "logistics", "QFR", "--revoke")
    assert "Revoked logistics officer (QFR) from officer" in output
    assert roles("officer") == [("Center operator", "MLC-TEST")]
    grant_role("officer", "operator", "MLC-TEST", "--revoke")
    assert roles("officer") == []


@pytest.mark.django_db
def test_revoking_a_role_not_held_says_so_and_creates_no_group(nation, officer):
    output = grant_role("officer", "liaison", "QFR", "--revoke")
    assert "does not hold" in output
    assert not Group.objects.filter(name__startswith="QFR").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nobody", "logistics", "QFR"), "No user named 'nobody'"),
        (("officer", "quartermaster", "QFR"), "Unknown role 'quartermaster'"),
        (("officer", "logistics"), "Give the nation or center"),
        (("officer", "logistics", "ZZZ"), "No nation with code 'ZZZ'"),
        (("officer", "operator", "QFR"), "No logistics center with code 'QFR'"),
        (("officer", "coordinator", "QFR"), "alliance-wide"),
    ],
)
def test_bad_input_is_a_clear_error_and_grants_nothing(nation, center, officer, args, message):
    with pytest.raises(CommandError, match=message):
        grant_role(*args)
    assert roles("officer") == []
    assert not officer.groups.exists()
