"""Schema fuzzing in CI (a few hundred cases; ``bench/fuzz.py`` runs thousands): schemathesis against the live
``/api/schema/``, as two nations' national systems, a liaison officer and a coordinator.  No 5xx, every answer
as documented (status code, content type, body), and the books intact afterwards.  See ``tests/fuzzing.py``."""

import os

import pytest

from nations.tokens import issue_token
from tests.fuzzing import ROLES, broken_invariants, fuzz, load_schema, prepare_scenario

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

CASES = int(os.environ.get("FUZZ_CASES", "300"))  # FUZZ_CASES=3000 for a longer run of the same test


def test_the_api_answers_every_generated_case_as_documented_and_keeps_the_books(world, settings):
    settings.API_RATE_TOKEN = ""  # budgets are documented (429) but would only cut the run short
    prepare_scenario(world)
    tokens = {role: issue_token(user=world.users[role], name="fuzz", expires_in_days=1)[1] for role in ROLES}

    result = fuzz(load_schema(), tokens, cases=CASES, seed=2026)

    assert result.cases >= CASES * 0.9, result.report()
    assert not result.failures, result.report()
    problems = broken_invariants()
    assert not problems, problems
