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
from django.db import IntegrityError, connection, transaction
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

    item_ids, held = _report_lookups(nation=nation, center=center, nsns={line["nsn"] for line in lines})
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

    report = StockReport.objects.create(
        nation=nation, center=center, submitted_by=submitted_by, counted_at=counted_at, line_count=len(lines)
    )
    counts = [
        (item_ids[line["nsn"]], line["quantity"], line.get("counted_at") or counted_at, line.get("note", ""))
        for line in lines
    ]
    stock_ids = {item_id: stock_id for item_id, (stock_id, _first) in held.items()}
    write = _write_counts_postgresql if connection.vendor == "postgresql" else _write_counts_orm
    write(nation=nation, center=center, report=report, stock_ids=stock_ids, counts=counts, by=submitted_by,
          source=source, now=now)  # fmt: skip
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


# --- stock reports: the reads and writes of thousands of lines, set-based ----------------------------------------------
# A 10,000-line report through the ORM spent most of its time building SQL: an IN list of 10,000 parameters per
# lookup, and model instances, per-value preparation and a 100,000-placeholder INSERT text for the new stocks and
# the counts (11 s when every line created its stock).  On PostgreSQL each step is one statement over arrays, its
# text the same whatever the number of lines.

_HELD_SQL = """
    SELECT i.nsn, i.id, s.id, (SELECT min(m.occurred_at) FROM inventory_movement m WHERE m.stock_id = s.id)
      FROM inventory_item i
      LEFT JOIN inventory_stock s ON s.item_id = i.id AND s.nation_id = %(nation)s AND s.center_id = %(center)s
     WHERE i.nsn = ANY(%(nsns)s)
"""

# the stocks a report counts that the nation does not hold there yet: created empty (zero quantities, private)
_NEW_STOCKS_SQL = """
    INSERT INTO inventory_stock (nation_id, center_id, item_id, on_hand, reserved, safety_level, daily_consumption,
                                 shared, created_at, updated_at)
    SELECT %(nation)s, %(center)s, item_id, 0, 0, 0, 0, false, %(now)s, %(now)s FROM unnest(%(items)s::bigint[]) AS item_id
    ON CONFLICT (nation_id, center_id, item_id) DO NOTHING
"""

_COUNTS_SQL = """
    INSERT INTO inventory_stockcount (stock_id, counted_quantity, counted_at, counted_by_id, source, note, report_id,
                                      recorded_at)
    SELECT s.id, c.quantity, c.counted_at, %(by)s, %(source)s, c.note, %(report)s, %(now)s
      FROM unnest(%(items)s::bigint[], %(quantities)s::bigint[], %(times)s::timestamptz[], %(notes)s::text[])
           AS c(item_id, quantity, counted_at, note)
      JOIN inventory_stock s ON s.item_id = c.item_id AND s.nation_id = %(nation)s AND s.center_id = %(center)s
"""


def _report_lookups(*, nation: Nation, center: LogisticsCenter, nsns: set[str]):
    """{nsn: item id} of the catalog items named, and {item id: (stock id, first movement time)} of those the nation
    holds at the center (the first movement is the earliest a count of the stock can be)."""
    if connection.vendor != "postgresql":
        item_ids = dict(Item.objects.filter(nsn__in=nsns).values_list("nsn", "id"))
        held = {
            item_id: (stock_id, first)
            for item_id, stock_id, first in Stock.objects.filter(
                nation=nation, center=center, item_id__in=item_ids.values()
            )
            .order_by()
            .annotate(first=Min("movements__occurred_at"))
            .values_list("item_id", "id", "first")
        }
        return item_ids, held
    with connection.cursor() as cursor:
        cursor.execute(_HELD_SQL, {"nation": nation.pk, "center": center.pk, "nsns": sorted(nsns)})
        rows = cursor.fetchall()
    return {nsn: item_id for nsn, item_id, _s, _f in rows}, {
        item_id: (stock_id, first) for _n, item_id, stock_id, first in rows if stock_id is not None
    }


def _write_counts_postgresql(*, nation, center, report, stock_ids, counts, by, source, now) -> None:
    """The missing stocks, then every count, each in one statement over arrays."""
    params = {"nation": nation.pk, "center": center.pk, "now": now}
    with connection.cursor() as cursor:
        if missing := sorted({item_id for item_id, *_rest in counts} - stock_ids.keys()):
            cursor.execute(_NEW_STOCKS_SQL, {**params, "items": missing})
        items, quantities, times, notes = (list(column) for column in zip(*counts, strict=True))
        cursor.execute(
            _COUNTS_SQL,
            {**params, "by": by.pk, "source": source, "report": report.pk, "items": items,
             "quantities": quantities, "times": times, "notes": notes},
        )  # fmt: skip


def _write_counts_orm(*, nation, center, report, stock_ids, counts, by, source, now) -> None:
    """The same through the ORM (SQLite, the demo database)."""
    if missing := {item_id for item_id, *_rest in counts} - stock_ids.keys():
        Stock.objects.bulk_create(
            [Stock(nation=nation, center=center, item_id=i) for i in missing], ignore_conflicts=True, batch_size=2000
        )
        stock_ids = dict(
            Stock.objects.filter(nation=nation, center=center, item_id__in={c[0] for c in counts}).values_list(
                "item_id", "id"
            )
        )
    StockCount.objects.bulk_create(
        [
            StockCount(
                stock_id=stock_ids[item_id],
                counted_quantity=quantity,
                counted_at=counted_at,
                counted_by=by,
                source=source,
                note=note,
                report=report,
            )
            for item_id, quantity, counted_at, note in counts
        ],
        batch_size=2000,
    )


# --- the catalog -----------------------------------------------------------------------------------------------------

CATALOG_FIELDS = ("nsn", "name", "supply_class", "unit_of_issue")


def _item_errors(item: Item) -> dict[str, list[str]]:
    """The model's own checks (NSN format, supply class and unit of issue among the choices, lengths), as messages
    per field; the uniqueness of the NSN is left to the caller, which knows whether the item exists."""
    try:
        item.full_clean(validate_unique=False)
    except ValidationError as exc:
        return {field: [str(m) for m in messages] for field, messages in exc.message_dict.items()}
    return {}


@transaction.atomic
def create_item(*, actor, nsn: str, name: str, supply_class: str, unit_of_issue: str) -> Item:
    """Add one item to the catalog (alliance coordinators).  An NSN already in the catalog is refused (400)."""
    access.require(actor, "catalog.manage", None)
    item = Item(nsn=nsn.strip(), name=name.strip(), supply_class=supply_class, unit_of_issue=unit_of_issue)
    errors = _item_errors(item)
    if not errors and Item.objects.filter(nsn=item.nsn).exists():
        errors["nsn"] = [_("NSN %(nsn)s is already in the catalog.") % {"nsn": item.nsn}]
    if errors:
        raise ValidationError(errors)
    item.save()
    return item


@transaction.atomic
def update_item(*, actor, item: Item, **changes) -> Item:
    """Correct an item's name, supply class or unit of issue (alliance coordinators).  The NSN is the item's
    identity in every nation's system and is never changed."""
    access.require(actor, "catalog.manage", item)
    if "nsn" in changes and changes["nsn"] != item.nsn:
        raise ValidationError({"nsn": [_("The NSN of an item is never changed; add the item with its new NSN.")]})
    item = Item.objects.select_for_update().get(pk=item.pk)
    for field in ("name", "supply_class", "unit_of_issue"):
        if field in changes:
            setattr(item, field, changes[field].strip() if field == "name" else changes[field])
    if errors := _item_errors(item):
        raise ValidationError(errors)
    item.save()
    return item


@transaction.atomic
def import_catalog(*, actor, rows: list[dict], update: bool = False) -> dict[str, int]:
    """Load many items at once, all or nothing: every row is checked first, and the errors name the row
    (``rows[12].nsn``).  An NSN already in the catalog with the same figures is left alone; with other figures it
    is updated when `update`, else refused.  Returns the counts created, updated and unchanged.  `actor` None is
    ``manage.py import_catalog``, run by whoever administers the server."""
    if actor is not None:
        access.require(actor, "catalog.manage", None)
    existing = {item.nsn: item for item in Item.objects.filter(nsn__in={str(r.get("nsn", "")).strip() for r in rows})}
    errors: dict[str, list[str]] = {}
    seen: dict[str, int] = {}
    create, change, unchanged = [], [], 0
    for index, row in enumerate(rows):
        values = {field: str(row.get(field) or "").strip() for field in CATALOG_FIELDS}
        item = Item(**values)
        row_errors = _item_errors(item)
        if values["nsn"] in seen:
            row_errors.setdefault("nsn", []).append(
                _("NSN %(nsn)s is already on row %(row)s.") % {"nsn": values["nsn"], "row": seen[values["nsn"]]}
            )
        seen.setdefault(values["nsn"], index)
        for field, messages in row_errors.items():
            errors[f"rows[{index}].{field}"] = messages
        if row_errors:
            continue
        known = existing.get(values["nsn"])
        if known is None:
            create.append(item)
        elif all(getattr(known, f) == values[f] for f in CATALOG_FIELDS):
            unchanged += 1
        elif update:
            known.name, known.supply_class, known.unit_of_issue = (
                values["name"],
                values["supply_class"],
                values["unit_of_issue"],
            )
            change.append(known)
        else:
            errors[f"rows[{index}].nsn"] = [
                _("NSN %(nsn)s is in the catalog with other figures (use --update to change them).")
                % {"nsn": values["nsn"]}
            ]
    if errors:
        raise ValidationError(errors)
    Item.objects.bulk_create(create, batch_size=2000)
    now = timezone.now()
    for item in change:
        item.updated_at = now
    Item.objects.bulk_update(change, ["name", "supply_class", "unit_of_issue", "updated_at"], batch_size=2000)
    return {"created": len(create), "updated": len(change), "unchanged": unchanged}
