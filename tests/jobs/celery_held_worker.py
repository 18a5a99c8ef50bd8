"""The project's Celery app, for a test worker whose passes are slow enough to be killed in the middle of a run.

    celery -A tests.jobs.celery_held_worker worker ...   (with RECONCILE_TEST_HOLD_SECONDS=1.5 in its environment)

Each pool process, once forked, wraps ``coordination.runs.reconcile_center`` so that a center's pass, its work
done, keeps its transaction open for RECONCILE_TEST_HOLD_SECONDS before committing: a worker killed then leaves
that center's writes uncommitted, as a real crash would.  Nothing else differs from ``celery -A config``; the
application code has no test hook.
"""

import os
import time

from celery.signals import worker_process_init

from config.celery import app

__all__ = ["app"]

HOLD_SECONDS = float(os.environ.get("RECONCILE_TEST_HOLD_SECONDS", "0"))


@worker_process_init.connect
def _hold_each_center_open(**kwargs) -> None:
    from django.db import transaction

    from coordination import runs

    reconcile = runs.reconcile_center

    def held(center_id: int, *, now):
        with transaction.atomic():
            findings = reconcile(center_id, now=now)
            time.sleep(HOLD_SECONDS)  # the center's flags are written but not yet committed
        return findings

    runs.reconcile_center = held
