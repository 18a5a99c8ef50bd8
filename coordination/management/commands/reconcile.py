import sys
import time

from django.core.management.base import BaseCommand, CommandError

from coordination import runs
from coordination.models import ReconciliationRun
from inventory.models import LogisticsCenter


class Command(BaseCommand):
    help = "Start a reconciliation and shortfall run (all centers, or one with --center); --wait shows progress."

    def add_arguments(self, parser):
        parser.add_argument("--center", metavar="CODE", help="Reconcile only this center.")
        parser.add_argument("--wait", action="store_true", help="Wait for the run to finish, with a progress bar.")
        parser.add_argument("--timeout", type=int, default=3600, help="Seconds to wait at most (with --wait).")

    def handle(self, *args, center, wait, timeout, **options):
        target = None
        if center:
            target = LogisticsCenter.objects.filter(code=center.upper()).first()
            if target is None:
                raise CommandError(f"No logistics center {center!r}.")
        try:
            run = runs.start_reconciliation(center=target, trigger="command")
        except runs.RunInProgress as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Reconciliation #{run.pk} queued ({run.centers_total} center(s)).")
        if not wait:
            return
        deadline = time.monotonic() + timeout
        while True:
            run = ReconciliationRun.objects.get(pk=run.pk)
            self._bar(run)
            if run.is_finished:
                break
            if time.monotonic() > deadline:
                raise CommandError(f"Run #{run.pk} did not finish within {timeout} s (still {run.status}).")
            time.sleep(0.5)
        self.stdout.write("")
        duration = (run.finished_at - (run.started_at or run.created_at)).total_seconds()
        self.stdout.write(
            f"#{run.pk} {run.status} in {duration:.1f} s: "
            + ", ".join(f"{k} {v}" for k, v in sorted(run.findings.items()))
        )
        if run.status != "succeeded":
            raise CommandError(run.error or "The run failed.")

    def _bar(self, run, width: int = 30):
        filled = int(width * run.progress_percent / 100)
        line = f"\r[{'#' * filled}{'.' * (width - filled)}] {run.centers_done}/{run.centers_total} {run.status}"
        self.stdout.write(line, ending="")
        sys.stdout.flush()
