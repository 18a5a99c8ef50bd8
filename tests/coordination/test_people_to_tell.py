"""The hand-written query behind every transition's notices (``events.people_to_tell``) names exactly whom
``events.people_holding`` (the ORM's statement of the rule) names, with the same languages: active human holders of
the role there, through a role group; no service account, no inactive user, no one twice."""

from __future__ import annotations

import pytest

from coordination import events
from nations.access import grant_role
from nations.models import ServiceAccount, UserPreference
from nations.roles import Role
from tests.factories import CenterFactory, NationFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def as_pairs(users) -> list[tuple[int, str]]:
    return sorted((u.pk, u.notice_language) for u in users)


def test_the_hand_written_query_names_whom_the_rule_names():
    fra, deu = NationFactory(code="FRA"), NationFactory(code="DEU")
    center = CenterFactory()
    officer, colleague, french, inactive, system, other = (UserFactory() for _ in range(6))
    for user in (officer, colleague, french, inactive, system):
        grant_role(user, Role.LOGISTICS, fra)
    grant_role(officer, Role.LIAISON, fra)  # two roles of one nation: named once per role asked
    grant_role(other, Role.LOGISTICS, deu)
    grant_role(officer, Role.OPERATOR, center)
    grant_role(other, Role.OPERATOR, center)
    UserPreference.objects.create(user=french, language="fr")
    inactive.is_active = False
    inactive.save()
    ServiceAccount.objects.create(user=system, nation=fra)

    for role, target in (
        (Role.LOGISTICS, fra.pk),
        (Role.LIAISON, fra.pk),
        (Role.LOGISTICS, deu.pk),
        (Role.OPERATOR, center.pk),
        (Role.LIAISON, deu.pk),  # nobody
    ):
        assert as_pairs(events.people_to_tell(role, target)) == as_pairs(events.people_holding(role, target))
    assert as_pairs(events.people_to_tell(Role.LOGISTICS, fra.pk)) == sorted(
        [(officer.pk, "en"), (colleague.pk, "en"), (french.pk, "fr")]
    )
    assert as_pairs(events.people_to_tell(Role.LIAISON, deu.pk)) == []
