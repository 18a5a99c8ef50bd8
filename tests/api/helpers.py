"""Helpers for the idempotency, concurrency, error and token tests, over conftest's ``world``: FRA asks DEU for
fuel from DEU's shared stock at MLC-A (``world.stocks["deu_shared"]``) to be delivered at NAT-F.

Plus what the concurrency tests need: running work in many threads at once, each in its own database
connection.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.utils import timezone

from coordination import services
from coordination.models import SupplyRequest

from .conftest import FUEL_NSN


def request_payload(quantity: int = 7, **overrides) -> dict:
    """The JSON body of POST /api/v1/requests/ for a submitted FRA -> DEU request of fuel."""
    payload = {
        "supplying_nation": "DEU",
        "nsn": FUEL_NSN,
        "source_center": "MLC-A",
        "destination_center": "NAT-F",
        "quantity": quantity,
        "required_by": (timezone.localdate() + dt.timedelta(days=10)).isoformat(),
        "justification": "Exercise resupply",
        "submit": True,
    }
    payload.update(overrides)
    return payload


def submitted_request(world, quantity: int = 7) -> SupplyRequest:
    """A request raised and submitted by FRA's logistics officer, through the services."""
    return services.create_request(
        requester=world.users["fra_logistics"],
        requesting_nation=world.fra,
        supplying_nation=world.deu,
        item=world.fuel,
        source_center=world.mlc_a,
        destination_center=world.nat_f,
        quantity=quantity,
        required_by=timezone.localdate() + dt.timedelta(days=10),
        justification="Exercise resupply",
        submit=True,
    )


def approved_request(world, quantity: int = 7) -> SupplyRequest:
    """A submitted request approved by DEU's liaison officer (reserving `quantity` at deu_shared)."""
    return services.approve_request(request=submitted_request(world, quantity), approver=world.users["deu_liaison"])


@dataclass
class Outcome:
    value: Any = None
    error: BaseException | None = None


def run_in_parallel(count: int, prepare, act, *, timeout: float = 120) -> list[Outcome]:
    """Run ``act(prepare(i))`` in `count` threads released together by a barrier.

    Each thread works in its own database connection (Django's connections are per thread): `prepare` opens
    it and reads what the thread needs, so that after the barrier every thread goes straight to the contended
    write.  The connections are closed when the thread ends."""
    barrier = threading.Barrier(count, timeout=60)
    outcomes = [Outcome() for _ in range(count)]

    def work(index: int) -> None:
        try:
            prepared = prepare(index)
            barrier.wait()
            outcomes[index].value = act(prepared)
        except BaseException as exc:  # recorded, and asserted on by the test
            outcomes[index].error = exc
            barrier.abort()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(i,), name=f"worker-{i}") for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(t.is_alive() for t in threads), "a worker is still running (deadlock?)"
    return outcomes
