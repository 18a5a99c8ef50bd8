"""Reconciliation runs: start one, work one center of it, finish it.  The Celery tasks call these.

A run fans out one unit of work per center.  Each unit writes a ``CenterReconciliation`` row (unique per run
and center), so a task delivered twice does nothing twice and progress is the number of rows.  A run that
has made no progress for ``RECONCILE_STALE_SECONDS`` (its worker died) is marked failed by the next run;
running again simply redoes the checks, which are idempotent upserts.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from kombu.exceptions import OperationalError as KombuOperationalError

from core.errors import Conflict
from inventory.models import LogisticsCenter
from nations import access

from . import clocks
from .events import notify_critical_shortfalls, notify_overdue
from .ledger_check import check_center_ledger
from .models import CenterReconciliation, ReconciliationRun, RunStatus
from .reconciliation import CenterBusy, reconcile_center

log = logging.getLogger(__name__)
UNFINISHED = [RunStatus.QUEUED, RunStatus.RUNNING]


class RunInProgress(Conflict):
    code = "run_in_progress"


def fail_stale_runs() -> int:
    """Mark failed the unfinished runs that have shown no progress for RECONCILE_STALE_SECONDS."""
    cutoff = timezone.now() - timedelta(seconds=settings.RECONCILE_STALE_SECONDS)
    return ReconciliationRun.objects.filter(status__in=UNFINISHED, updated_at__lt=cutoff).update(
        status=RunStatus.FAILED,
        finished_at=timezone.now(),
        updated_at=timezone.now(),
        error="Abandoned: no progress (its worker stopped). A later run redoes its work.",
    )


def start_reconciliation(
    *, user=None, center: LogisticsCenter | None = None, trigger: str = "api"
) -> ReconciliationRun:
    """Record a run and queue it after commit.  `user` None means the schedule.

    Coordinators may reconcile everything; an operator only their own center.  A run is refused (409) while
    another live run covers the same centers, so a double click does not double the work."""
    if user is not None:
        access.require(user, "reconciliation.start", center)
    with transaction.atomic():
        fail_stale_runs()
        overlapping = ReconciliationRun.objects.select_for_update().filter(status__in=UNFINISHED)
        if center is not None:
            overlapping = overlapping.filter(center__isnull=True) | overlapping.filter(center=center)
        busy = overlapping.first()
        if busy is not None:
            raise RunInProgress(_("Reconciliation #%(n)s is still running for these centers.") % {"n": busy.pk})
        total = 1 if center is not None else LogisticsCenter.objects.count()
        run = ReconciliationRun.objects.create(center=center, started_by=user, trigger=trigger, centers_total=total)
        transaction.on_commit(lambda: _queue(run.pk))
    return run


def _queue(run_id: int) -> None:
    """Send the run to the workers.  With the broker down the run stays queued (the caller still gets it) and
    ``requeue_waiting_runs`` sends it once the broker is back."""
    from . import tasks  # the tasks call this module's functions: imported when queueing, not at load

    try:
        tasks.run_reconciliation.delay(run_id)
    except (KombuOperationalError, OSError):  # the broker is unreachable: the sweep sends it later
        log.warning("could not queue reconciliation #%s; the sweep will send it", run_id, exc_info=True)


def requeue_waiting_runs() -> list[int]:
    """Send again the runs still queued JOBS_REQUEUE_AFTER_SECONDS after they were last sent (their message never
    reached the broker, or was lost with it).  A run sent twice is harmless: its centers are done once each."""
    cutoff = timezone.now() - timedelta(seconds=settings.JOBS_REQUEUE_AFTER_SECONDS)
    with transaction.atomic():
        waiting = list(
            ReconciliationRun.objects.select_for_update(skip_locked=True)
            .filter(status=RunStatus.QUEUED, updated_at__lt=cutoff)
            .values_list("pk", flat=True)
        )
        ReconciliationRun.objects.filter(pk__in=waiting).update(updated_at=timezone.now())  # sent again now
        for run_id in waiting:
            transaction.on_commit(lambda run_id=run_id: _queue(run_id))
    return waiting


def center_ids_of(run: ReconciliationRun) -> list[int]:
    if run.center_id is not None:
        return [run.center_id]
    return list(LogisticsCenter.objects.order_by("pk").values_list("pk", flat=True))


def begin_run(run_id: int) -> list[int] | None:
    """Mark the run running; the ids of its centers still to do, or None if the run is gone or finished."""
    run = ReconciliationRun.objects.filter(pk=run_id).first()
    if run is None or run.is_finished:
        return None
    center_ids = center_ids_of(run)
    now = timezone.now()
    ReconciliationRun.objects.filter(pk=run_id, status__in=UNFINISHED).update(
        status=RunStatus.RUNNING,
        started_at=run.started_at or now,
        centers_total=len(center_ids),
        updated_at=now,
    )
    done = set(CenterReconciliation.objects.filter(run_id=run_id).values_list("center_id", flat=True))
    return [c for c in center_ids if c not in done]


def work_center(run_id: int, center_id: int) -> None:
    """Reconcile one center for one run, once (a redelivered task returns quietly)."""
    run = ReconciliationRun.objects.filter(pk=run_id).first()
    if (
        run is None
        or run.is_finished
        or CenterReconciliation.objects.filter(run_id=run_id, center_id=center_id).exists()
    ):
        return
    started = timezone.now()
    error = ""
    try:
        findings = reconcile_center(center_id, now=started)
        counts = {**findings.counts, **check_center_ledger(center_id, now=started)}
    except CenterBusy:
        raise
    except Exception as exc:  # recorded on the run; the other centers go on
        log.exception("reconciliation of center %s failed in run %s", center_id, run_id)
        findings, counts, error = None, {}, f"{exc.__class__.__name__}: {exc}"
    if not _record_center(run_id, center_id, counts, error, started):
        return  # the same center of the same run finished concurrently (a duplicate delivery)
    if findings is not None and findings.new_critical_shortfalls:
        notify_critical_shortfalls(findings.new_critical_shortfalls)


def _record_center(run_id: int, center_id: int, counts: dict, error: str, started) -> bool:
    """Write the (run, center) result and count it in the run's progress; False if it was already there."""
    try:
        with transaction.atomic():
            CenterReconciliation.objects.create(
                run_id=run_id,
                center_id=center_id,
                findings=counts,
                error=error,
                started_at=started,
                finished_at=timezone.now(),
            )
            ReconciliationRun.objects.filter(pk=run_id, status__in=UNFINISHED).update(
                centers_done=F("centers_done") + 1, updated_at=timezone.now()
            )
    except IntegrityError:
        return False
    return True


def record_center_error(run_id: int, center_id: int, error: str) -> None:
    """A center that could not be reconciled in this run (the run then ends as failed)."""
    _record_center(run_id, center_id, {}, error, timezone.now())


def finish_run(run_id: int) -> ReconciliationRun | None:
    """Total the findings; succeeded when every center reported without error."""
    with transaction.atomic():
        run = ReconciliationRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.is_finished:
            return run
        results = list(CenterReconciliation.objects.filter(run_id=run_id))
        totals: dict[str, int] = {}
        for result in results:
            for kind, count in result.findings.items():
                totals[kind] = totals.get(kind, 0) + count
        errors = [f"center {r.center_id}: {r.error}" for r in results if r.error]
        complete = len(results) >= run.centers_total
        run.findings = totals
        run.centers_done = len(results)
        run.status = RunStatus.SUCCEEDED if complete and not errors else RunStatus.FAILED
        run.error = "\n".join(errors) if errors else ("" if complete else "Not every center was reconciled.")
        run.finished_at = timezone.now()
        run.save()
    _notify_overdue(run_id)  # the run is finished once (above, under its lock): its news is told once
    return run


def _notify_overdue(run_id: int) -> None:
    """Tell whoever must act about the overdue flags the run raised: one notice per person for the whole run, not
    one per center.  The run's result stands whatever becomes of its notices (a failure is logged)."""
    try:
        flag_ids = clocks.raised_by_run(run_id)
        if flag_ids:
            notify_overdue(flag_ids)
    except Exception:
        log.exception("could not notify the overdue flags of reconciliation #%s", run_id)
