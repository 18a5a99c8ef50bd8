"""Fuzzing the REST API with schemathesis: thousands of generated cases against the live schema (``/api/schema/``).

    python bench/fuzz.py                  # 5,000 cases
    python bench/fuzz.py --cases 20000    # more; --seconds N stops earlier; --seed N another sequence
    python bench/fuzz.py --smoke          # 150 cases (CI keeps it from rotting: tests/infra/test_bench_fuzz_smoke.py)

What it does (the machinery is tests/fuzzing.py, shared with the CI test tests/api/test_fuzz.py): on a database of
its own (alliance_bench_fuzz, or FUZZ_BENCH_DB; created and migrated when missing), with production settings
(DEBUG off), it builds the permission matrix's scenario -- three nations, three centers, stocks private and shared,
requests, flags, reports, runs, notifications, webhooks -- plus requests waiting for approval, dispatch and receipt
by the fuzzed roles (``prepare_scenario``), and sends every case to the WSGI application in-process,
as FRA's and ITA's national systems, DEU's liaison officer and a coordinator (Bearer tokens).  Cases are valid and
invalid data drawn from the schema, 70% of them with real identifiers and codes.  Each answer is checked: no 5xx,
a documented status code and content type, a body matching the documented schema.  Afterwards the books are checked:
on_hand against the ledger and reserved against the approved requests for every stock, no stock out of bounds, the
last balance_after, and the ledger's hash chains (``manage.py verify_ledger``) where the project has that command.

Everything runs in one transaction that is rolled back at the end: nothing is committed, so no webhook is delivered
to the addresses the fuzzer invents and no job runs (after-commit work has tests of its own), and the database is
left as it was found.  Prints cases run, failures by kind (with reproductions), statuses, time, and a RESULT line.
Exit status 1 if any check failed or the books do not hold.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from _common import ROOT, database_exists, machine_line, manage, portal_env, print_result_json, recreate_database

FULL = {"cases": 5000, "db": "alliance_bench_fuzz"}
SMOKE = {"cases": 150, "db": "alliance_bench_fuzz_smoke"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="150 cases")
    parser.add_argument("--cases", type=int, help="how many cases (default 5000)")
    parser.add_argument("--seconds", type=float, help="stop after this many seconds of fuzzing")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--recreate", action="store_true", help="drop and create the database first")
    args = parser.parse_args()
    shape = SMOKE if args.smoke else FULL
    cases = args.cases or shape["cases"]
    db = os.environ.get("FUZZ_BENCH_DB", shape["db"])

    print(machine_line())
    if args.recreate or not database_exists(db):
        recreate_database(db)
    manage(db, "migrate", "--noinput")

    # Django in this process, on the benchmark database, as in production but without Redis (nothing is queued:
    # the run never commits) and answering to the WSGI test host.
    os.environ.update(portal_env(db, REDIS_URL="", ALLOWED_HOSTS="127.0.0.1,localhost", LOG_LEVEL="CRITICAL"))
    sys.path.insert(0, str(ROOT))
    import warnings

    import django

    warnings.filterwarnings("ignore", message="No directory at")  # WhiteNoise: no collected static files, none needed

    django.setup()
    import logging

    from django.conf import settings

    logging.disable(logging.WARNING)  # Django logs every 4xx; a 500 is still logged (and counted as a failure)
    from django.db import transaction

    settings.API_RATE_TOKEN = ""  # budgets are documented (429) but would only cut the run short
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # the scenario's users

    from nations.tokens import issue_token
    from tests.api.conftest import build_scenario
    from tests.fuzzing import ROLES, broken_invariants, fuzz, hash_chains_checked, load_schema, prepare_scenario
    from tests.network import refuse_name_lookups

    refuse_name_lookups()  # fuzzed webhook URLs name made-up hosts: never ask a resolver (traffic stays local)
    with transaction.atomic():
        world = build_scenario()
        prepare_scenario(world)
        tokens = {role: issue_token(user=world.users[role], name="fuzz", expires_in_days=1)[1] for role in ROLES}
        started = time.monotonic()
        schema = load_schema()
        operations = sum(1 for _ in schema.get_all_operations())
        print(f"schema: {operations} operations at /api/schema/ (loaded in {time.monotonic() - started:.1f} s)")
        result = fuzz(schema, tokens, cases=cases, seed=args.seed, seconds=args.seconds)
        problems = broken_invariants()
        transaction.set_rollback(True)

    print(result.report())
    print("\n".join(result.operations_table()))
    print("by role: " + ", ".join(f"{role}: {n}" for role, n in sorted(result.by_role.items())))
    chains = (
        "hash chains whole (verify_ledger)" if hash_chains_checked() else "hash chains not checked (no verify_ledger)"
    )
    print(
        "books: "
        + (
            f"intact (on_hand = ledger, reserved = approved, nothing negative; {chains})"
            if not problems
            else f"{len(problems)} problems"
        )
    )
    for problem in problems[:20]:
        print("  " + problem)
    print_result_json(
        "fuzz",
        {
            "cases": result.cases,
            "seconds": round(result.seconds, 1),
            "seed": args.seed,
            "failures": dict(result.failures),
            "statuses": {str(k): v for k, v in result.statuses.items()},
            "books_problems": len(problems),
            "smoke": args.smoke,
        },
    )
    return 1 if result.failures or problems else 0


if __name__ == "__main__":
    sys.exit(main())
