"""Celery tasks of the nations app.  Like every task of the portal, they take no rows as arguments and are safe to
run twice (acks_late + reject_on_worker_lost)."""

from __future__ import annotations

from celery import shared_task

from . import audit_chain


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def seal_audit_log() -> None:
    """Celery beat's entry point, every minute: seal the audit entries committed since the last run into the
    chain.  Nothing pending is nothing to do; a second run at the same time waits for the first (the sealer's
    lock) and then finds nothing."""
    audit_chain.seal_pending()
