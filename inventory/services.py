"""Write side of the inventory: every quantity change is one ledger movement in the same transaction.

Rules enforced here (and again by the database's constraints):
- ``on_hand`` changes only through :func:`post_movement`, which writes the movement and the new balance together,
  the movement sealed by a hash chained on the stock's previous one (inventory/ledger.py);
- stock rows are locked (``SELECT ... FOR UPDATE``) in primary-key order before they are read and written;
- stock never goes negative and ``reserved`` never exceeds ``on_hand``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Min
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import InsufficientStock
from core.validation import NON_ZERO, ZERO_OR_MORE, whole_number, whole_number_error
from nations import access, audit
from nations.models import AuditKind, Nation

from . import ledger
from .models import (
    ALL,
    CountSource,
    Item,
    LogisticsCenter,
    Movement,
    MovementKind,
    ReleaseList,
    Stock,
    StockCount,
    StockReport,
)


def lock_stocks(*stock_ids: int) -> dict[int, Stock]:
    """Lock the given stocks in primary-key order (so two transactions never wait on each other in a cycle)."""
    rows = Stock.objects.select_for_update().filter(pk__in=stock_ids).order_by("pk")
    return {s.pk: s for s in rows}


def lock_stock(stock_id: int) -> Stock:
    locked = lock_stocks(stock_id)
    if stock_id not in locked:
        raise Stock.DoesNotExist(f"stock {stock_id} does not exist")
    return locked[stock_id]


def get_or_create_stock(*, nation: Nation, center: LogisticsCenter, item: Item) -> Stock:
    """The stock of (nation, center, item), created empty if missing; safe against a concurrent creation."""
    try:
        with transaction.atomic():
            stock, _ = Stock.objects.get_or_create(nation=nation, center=center, item=item)
    except IntegrityError:  # created by a concurrent transaction between our SELECT and INSERT
        stock = Stock.objects.get(nation=nation, center=center, item=item)
    return stock


def post_movement(
    *,
    stock: Stock,
    kind: str,
    quantity: int,
    actor,
    reason: str = "",
    request=None,
    occurred_at: datetime | None = None,
) -> Movement:
    """Apply a signed `quantity` to a stock already locked by the caller, and record it in the ledger.

    Refuses (InsufficientStock) a change that would take on_hand below zero or below what is reserved."""
    if quantity == 0:
        raise ValidationError({"quantity": _("A movement must change the quantity.")})
    new_on_hand = stock.on_hand + quantity
    if new_on_hand < 0:
        raise InsufficientStock(
            _("Only %(on_hand)s on hand; cannot take %(quantity)s.") % {"on_hand": stock.on_hand, "quantity": -quantity}
        )
    if new_on_hand < stock.reserved:
        raise InsufficientStock(
            _("Only %(available)s available (%(reserved)s reserved); cannot take %(quantity)s.")
            % {"available": stock.available, "reserved": stock.reserved, "quantity": -quantity}
        )
    stock.on_hand = new_on_hand
    movement = Movement(
        stock=stock,
        center_id=stock.center_id,
        kind=kind,
        quantity=quantity,
        balance_after=new_on_hand,
        actor=actor,
        occurred_at=occurred_at or timezone.now(),
        reason=reason,
        request=request,
    )
    # Chained on the head read with the row lock: the next movement of this stock waits for our commit.
    stock.ledger_head = ledger.seal(movement, stock.ledger_head)
    # reserved is saved too: a dispatch lowers it on the same locked row in the same step
    stock.save(update_fields=["on_hand", "reserved", "ledger_head", "updated_at"])
    movement.save(force_insert=True)
    return movement


def _reason_required(reason: str) -> str:
    if not reason or not reason.strip():
        raise ValidationError({"reason": _("Give a reason.")})
    return reason.strip()


@transaction.atomic
def receive_stock(
    *, stock: Stock, quantity: int, actor, reason: str = "", occurred_at: datetime | None = None
) -> Movement:
    """Book a receipt from outside the alliance into the nation's stock (its logistics officers)."""
    access.require(actor, "stock.receipt", stock)
    whole_number(quantity, field="quantity")
    return post_movement(
        stock=lock_stock(stock.pk),
        kind=MovementKind.RECEIPT,
        quantity=quantity,
        actor=actor,
        reason=reason or "Receipt",
        occurred_at=occurred_at,
    )


@transaction.atomic
def issue_stock(
    *, stock: Stock, quantity: int, actor, reason: str = "", occurred_at: datetime | None = None
) -> Movement:
    """Issue stock for consumption; only what is available (on hand less reserved) can be issued."""
    access.require(actor, "stock.issue", stock)
    whole_number(quantity, field="quantity")
    return post_movement(
        stock=lock_stock(stock.pk),
        kind=MovementKind.ISSUE,
        quantity=-quantity,
        actor=actor,
        reason=reason or "Issue for consumption",
        occurred_at=occurred_at,
    )


@transaction.atomic
def adjust_stock(*, stock: Stock, delta: int, actor, reason: str) -> Movement:
    """Correct the balance by a signed `delta`, with a reason (losses, damage, found stock)."""
    access.require(actor, "stock.adjust", stock)
    reason = _reason_required(reason)
    whole_number(delta, field="delta", accept=NON_ZERO)
    movement = post_movement(
        stock=lock_stock(stock.pk), kind=MovementKind.ADJUSTMENT, quantity=delta, actor=actor, reason=reason
    )
    audit.stock_adjusted(movement)
    return movement


def require_participant(*, nation: Nation, center: LogisticsCenter) -> None:
    """A count or report names only a nation that takes part in the center: otherwise an operator could create (and
    count) stock for any nation at their center.  400, naming both, when it does not."""
    if not center.participants.filter(pk=nation.pk).exists():
        raise ValidationError(
            {
                "nation": _("%(nation)s does not take part in center %(center)s: it holds no stock there to count.")
                % {"nation": nation.code, "center": center.code}
            }
        )


def count_time_error(counted_at: datetime, *, first_movement_at: datetime | None, now: datetime) -> str | None:
    """Why `counted_at` cannot be a count's time, or None.  A count lies between the stock's first movement (it
    compares with the book then: a count from before the stock had any would make a discrepancy of nothing) and
    now, give or take COUNT_CLOCK_SKEW_SECONDS for the counting device's clock.  Equal to the first movement is
    fine: the book at a count's time includes the movements at that instant (coordination/reconciliation.py)."""
    if counted_at > now + timedelta(seconds=settings.COUNT_CLOCK_SKEW_SECONDS):
        return _("A count cannot be in the future.")
    if first_movement_at is not None and counted_at < first_movement_at:
        return _("A count cannot be earlier than the stock's first movement (%(first)s).") % {
            "first": first_movement_at.isoformat()
        }
    return None


@transaction.atomic
def record_count(
    *,
    stock: Stock,
    counted_quantity: int,
    counted_by,
    counted_at: datetime | None = None,
    source: str = CountSource.OPERATOR,
    note: str = "",
) -> StockCount:
    """Record a physical count.  It does not change the books: reconciliation compares it with them.

    Refused (400) for a nation that does not take part in the stock's center, and for a time before the stock's
    first movement or in the future (``count_time_error``)."""
    access.require(counted_by, "stock.count", stock)
    require_participant(nation=stock.nation, center=stock.center)
    whole_number(counted_quantity, field="counted_quantity", accept=ZERO_OR_MORE)
    now = timezone.now()
    counted_at = counted_at or now
    first = stock.movements.aggregate(first=Min("occurred_at"))["first"]
    if error := count_time_error(counted_at, first_movement_at=first, now=now):
        raise ValidationError({"counted_at": error})
    return StockCount.objects.create(
        stock=stock,
        counted_quantity=counted_quantity,
        counted_at=counted_at,
        counted_by=counted_by,
        source=source,
        note=note,
    )


def release_list_for(codes) -> ReleaseList:
    """The release list of exactly these nations (found by its key, created if new; safe against a concurrent
    creation).  `codes` are existing nation codes."""
    key = ReleaseList.key_of(codes)
    found = ReleaseList.objects.filter(key=key).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            created = ReleaseList.objects.create(key=key)
            created.nations.set(Nation.objects.filter(code__in=codes))
            return created
    except IntegrityError:  # created by a concurrent transaction between our SELECT and INSERT
        return ReleaseList.objects.get(key=key)


def _marking(shared: bool, release_list: ReleaseList | None) -> str | list[str]:
    return ALL if shared else (release_list.codes if release_list is not None else [])


def _marking_text(marking: str | list[str]) -> str:
    if marking == ALL:
        return "Shared (ALL)"
    return f"REL TO {', '.join(marking)}" if marking else "Private"


def _release_error(stock: Stock, releasable_to, shared: bool | None) -> tuple[str | None, object]:
    """(error, the new (shared, release list)) for a ``releasable_to`` of "ALL", [] or nation codes."""
    if isinstance(releasable_to, str):
        if releasable_to.strip().upper() != ALL:
            return _('Give "ALL" or a list of nation codes.'), None
        wanted = ALL
    elif isinstance(releasable_to, list | tuple | set) and all(isinstance(c, str) for c in releasable_to):
        # the owner always sees its stock: its own code (NATO markings name the originator) is dropped
        codes = {c.strip().upper() for c in releasable_to} - {stock.nation.code}
        known = set(Nation.objects.filter(code__in=codes).values_list("code", flat=True))
        if unknown := sorted(codes - known):
            return _("Unknown nation code: %(codes)s.") % {"codes": ", ".join(unknown)}, None
        wanted = sorted(codes)
    else:
        return _('Give "ALL" or a list of nation codes.'), None
    if shared is not None and bool(shared) != (wanted == ALL):
        return _('"shared" contradicts "releasable_to": give one of them.'), None
    if wanted == ALL:
        return None, (True, None)
    return None, (False, release_list_for(wanted) if wanted else None)


@transaction.atomic
def update_stock_settings(
    *,
    stock: Stock,
    actor,
    safety_level: int | None = None,
    daily_consumption: Decimal | None = None,
    shared: bool | None = None,
    releasable_to: str | list[str] | None = None,
) -> Stock:
    """Change the planning figures and the release of a stock (its nation's logistics officers); no quantity
    changes.

    ``releasable_to``: "ALL" (shared with every participating nation), [] (private) or nation codes (REL TO those
    nations; an unknown code is refused, duplicates collapse, the owner's own code is dropped).  ``shared`` is the
    older form: true releases to ALL, false withdraws a release to ALL and leaves a REL TO list alone (a client that
    read ``shared: false`` and sends it back keeps the list).  A change of the release is audited
    (``stock.released``, both markings) and recorded by the change history."""
    access.require(actor, "stock.edit", stock)
    stock = lock_stock(stock.pk)
    errors = {}
    before = _marking(stock.shared, stock.release_list)
    if safety_level is not None:
        if error := whole_number_error(safety_level, ZERO_OR_MORE):
            errors["safety_level"] = error
        stock.safety_level = safety_level
    if daily_consumption is not None:
        try:
            rate = Decimal(str(daily_consumption))
        except (InvalidOperation, ValueError):
            rate = None
        if rate is None or not rate.is_finite() or rate < 0:
            errors["daily_consumption"] = _("Enter a rate, zero or more.")
        else:
            stock.daily_consumption = rate
    if releasable_to is not None:
        error, release = _release_error(stock, releasable_to, shared)
        if error:
            errors["releasable_to"] = error
        else:
            stock.shared, stock.release_list = release
    elif shared:
        stock.shared, stock.release_list = True, None
    elif shared is not None:
        stock.shared = False
    if errors:
        raise ValidationError(errors)
    stock.save()
    after = _marking(stock.shared, stock.release_list)
    if after != before:
        audit.record(
            AuditKind.STOCK_RELEASED,
            actor=actor,
            nation=stock.nation_id,
            obj=stock,
            summary=f"Stock {stock.pk} release changed: {_marking_text(before)} → {_marking_text(after)}",
            details={"from": before, "to": after},
        )
    return stock


@transaction.atomic
def record_stock_report(
    *,
    nation: Nation,
    center: LogisticsCenter,
    lines: list[dict],
    submitted_by,
    counted_at: datetime | None = None,
    source: str = CountSource.NATIONAL_SYSTEM,
):
    """Record the physical counts of many stocks of `nation` at `center` in one step, all or nothing.

    Each line is ``{"nsn", "quantity", "note"?, "counted_at"?}`` (a line's own time, else the report's).  Every line
    is checked before anything is written; the errors name the line (``lines[12].nsn``, ``lines[12].counted_at``:
    a time before that stock's first movement or in the future, see ``count_time_error``).  `nation` must take part
    in `center`.  A count for an item the nation does not yet hold there creates the (empty) stock, so the count's
    difference shows up in reconciliation.  Set-based: a constant number of queries whatever the number of lines."""
    access.require(submitted_by, "stock.count", Stock(nation=nation, center=center))
    require_participant(nation=nation, center=center)
    now = timezone.now()
    counted_at = counted_at or now
    if error := count_time_error(counted_at, first_movement_at=None, now=now):
        raise ValidationError({"counted_at": error})
    if not lines:
        raise ValidationError({"lines": _("A report needs at least one line.")})

    item_ids = dict(Item.objects.filter(nsn__in={line["nsn"] for line in lines}).values_list("nsn", "id"))
    # the stocks already there, with their first movement (the earliest a count of them can be)
    held = {
        item_id: (stock_id, first)
        for item_id, stock_id, first in Stock.objects.filter(
            nation=nation, center=center, item_id__in=item_ids.values()
        )
        .order_by()
        .annotate(first=Min("movements__occurred_at"))
        .values_list("item_id", "id", "first")
    }
    errors: dict[str, str] = {}
    seen: dict[str, int] = {}
    for index, line in enumerate(lines):
        nsn = line["nsn"]
        if nsn not in item_ids:
            errors[f"lines[{index}].nsn"] = _("No item with NSN %(nsn)s in the catalog.") % {"nsn": nsn}
        elif nsn in seen:
            errors[f"lines[{index}].nsn"] = _("NSN %(nsn)s is already counted on line %(line)s.") % {
                "nsn": nsn,
                "line": seen[nsn],
            }
        else:
            seen[nsn] = index
        if error := whole_number_error(line["quantity"], ZERO_OR_MORE):
            errors[f"lines[{index}].quantity"] = error
        first = held.get(item_ids.get(nsn), (None, None))[1]
        if error := count_time_error(line.get("counted_at") or counted_at, first_movement_at=first, now=now):
            errors[f"lines[{index}].counted_at"] = error
    if errors:
        raise ValidationError(errors)

    wanted = set(item_ids.values())
    stock_ids = {item_id: stock_id for item_id, (stock_id, _first) in held.items()}
    missing = wanted - stock_ids.keys()
    if missing:
        Stock.objects.bulk_create(
            [Stock(nation=nation, center=center, item_id=i) for i in missing], ignore_conflicts=True, batch_size=2000
        )
        stock_ids = dict(
            Stock.objects.filter(nation=nation, center=center, item_id__in=wanted).values_list("item_id", "id")
        )

    report = StockReport.objects.create(
        nation=nation, center=center, submitted_by=submitted_by, counted_at=counted_at, line_count=len(lines)
    )
    StockCount.objects.bulk_create(
        [
            StockCount(
                stock_id=stock_ids[item_ids[line["nsn"]]],
                counted_quantity=line["quantity"],
                counted_at=line.get("counted_at") or counted_at,
                counted_by=submitted_by,
                source=source,
                note=line.get("note", ""),
                report=report,
            )
            for line in lines
        ],
        batch_size=2000,
    )
    return report


@transaction.atomic
def post_manual_movement(
    *, nation: Nation, center: LogisticsCenter, item: Item, kind: str, quantity: int, actor, reason: str = ""
) -> Movement:
    """A receipt, issue or adjustment reported for (nation, center, item); a receipt creates the stock."""
    if kind == MovementKind.RECEIPT:
        stock = Stock(nation=nation, center=center, item=item)
        access.require(actor, "stock.receipt", stock)
        stock = get_or_create_stock(nation=nation, center=center, item=item)
        return receive_stock(stock=stock, quantity=quantity, actor=actor, reason=reason)
    stock = Stock.objects.filter(nation=nation, center=center, item=item).first()
    if stock is None:
        access.require(
            actor,
            f"stock.{'issue' if kind == MovementKind.ISSUE else 'adjust'}",
            Stock(nation=nation, center=center, item=item),
        )
        raise InsufficientStock(
            _("%(nation)s holds no %(nsn)s at %(center)s.")
            % {"nation": nation.code, "nsn": item.nsn, "center": center.code}
        )
    if kind == MovementKind.ISSUE:
        return issue_stock(stock=stock, quantity=quantity, actor=actor, reason=reason)
    if kind == MovementKind.ADJUSTMENT:
        return adjust_stock(stock=stock, delta=quantity, actor=actor, reason=reason)
    raise ValidationError({"kind": _("Only receipts, issues and adjustments can be posted directly.")})
