"""Celery tasks.  They take ids, re-read rows, return quietly if the row is gone, and are safe to run twice
(acks_late + reject_on_worker_lost: a task whose worker dies is delivered again)."""

from __future__ import annotations

import time

from celery import chord, shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from . import runs
from .models import DeliveryStatus, Notification, WebhookDelivery
from .reconciliation import CenterBusy
from .webhooks import DeliveryBusy, attempt_delivery, backoff

RELIABLE = {"acks_late": True, "reject_on_worker_lost": True}
# Tasks whose result nobody reads.  Ignoring it matters when Redis is down: a caller that keeps the result
# subscribes to it first, and that subscription retries for ~20 s before failing, inside the web request.
UNREAD = {**RELIABLE, "ignore_result": True}
EAGER_BUSY_ATTEMPTS = 30
DELIVERY_BUSY_RETRY_SECONDS = 5


@shared_task(**UNREAD)
def scheduled_reconciliation() -> int:
    """Celery beat's entry point: reconcile every center (skipped while a run is still going)."""
    try:
        return runs.start_reconciliation(trigger="schedule").pk
    except runs.RunInProgress:
        return 0


@shared_task(**UNREAD)
def run_reconciliation(run_id: int) -> None:
    """Fan the run out: one task per center, then a task that totals the findings."""
    center_ids = runs.begin_run(run_id)
    if center_ids is None:
        return
    if settings.CELERY_TASK_ALWAYS_EAGER:  # no broker: work through the centers here, in order
        for center_id in center_ids:
            reconcile_center.apply(args=(run_id, center_id), throw=True)
        runs.finish_run(run_id)
        return
    chord((reconcile_center.s(run_id, c) for c in center_ids), finish_reconciliation.si(run_id)).delay()


@shared_task(bind=True, max_retries=60, **RELIABLE)
def reconcile_center(self, run_id: int, center_id: int) -> None:
    if settings.CELERY_TASK_ALWAYS_EAGER:  # in-process: wait here for the other run (bounded), then give up
        for _attempt in range(EAGER_BUSY_ATTEMPTS):
            try:
                return runs.work_center(run_id, center_id)
            except CenterBusy:
                time.sleep(1)
        return runs.record_center_error(run_id, center_id, "Another run kept the center busy.")
    try:
        runs.work_center(run_id, center_id)
    except CenterBusy as exc:  # another run holds the center: wait for it rather than overlap
        raise self.retry(exc=exc, countdown=2) from exc


@shared_task(**UNREAD)
def finish_reconciliation(run_id: int) -> None:
    runs.finish_run(run_id)


@shared_task(bind=True, max_retries=None, **UNREAD)
def deliver_webhook(self, delivery_id: int) -> None:
    """Send one delivery; on failure retry with exponential backoff until WEBHOOK_MAX_ATTEMPTS."""
    try:
        delivery = attempt_delivery(delivery_id)
    except DeliveryBusy as exc:
        if settings.CELERY_TASK_ALWAYS_EAGER:
            return  # in-process: whoever holds the row is sending it
        raise self.retry(exc=exc, countdown=DELIVERY_BUSY_RETRY_SECONDS) from exc
    if delivery is not None and delivery.status == DeliveryStatus.PENDING and not settings.CELERY_TASK_ALWAYS_EAGER:
        raise self.retry(countdown=backoff(delivery.attempts))


@shared_task(**UNREAD)
def retry_due_deliveries() -> int:
    """Sweep: queue pending deliveries whose time has come (e.g. they could not be queued while the broker was
    down, or their retry was lost with a worker)."""
    # overdue by JOBS_REQUEUE_AFTER_SECONDS: the task that should have sent it was never queued or was lost
    overdue = timezone.now() - timezone.timedelta(seconds=settings.JOBS_REQUEUE_AFTER_SECONDS)
    due = list(
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=overdue).values_list(
            "pk", flat=True
        )[:500]
    )
    for delivery_id in due:
        deliver_webhook.delay(delivery_id)
    return len(due)


@shared_task(**UNREAD)
def requeue_waiting_runs() -> int:
    """Sweep: send again the reconciliation runs whose message never reached a worker (the broker was down when
    they were started)."""
    return len(runs.requeue_waiting_runs())


@shared_task(**UNREAD)
def email_notifications(notification_ids: list[int]) -> int:
    """Email each notice to its user, when the user has an address."""
    sent = 0
    for note in Notification.objects.filter(pk__in=notification_ids).select_related("user"):
        if note.user.email:
            send_mail(f"[Alliance Logistics] {note.title}", note.body, None, [note.user.email])
            sent += 1
    return sent
