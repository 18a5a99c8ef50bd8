"""The supply-request lifecycle as one table: every transition, who may make it, what it asks, who hears of it.

    draft -> submitted -> approved -> dispatched -> received
    rejected (from submitted, reason required); cancelled (from draft, submitted or approved)

Everything that depends on the lifecycle reads this table: the access rules (each row registers its action's rule
with ``nations.access``), the services' state check, the audit entry's acting side, notifications, the generic API
action (``POST /api/v1/requests/{id}/{action}/``), the browser's action dispatch and the request panel (a loop over
the actions this viewer may take), and the dashboard queues.  Adding a state is: a status, a row here, a service
function, a migration.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from nations import access
from nations.access import Party
from nations.access.rules import separation_of_duties_refusal
from nations.roles import Role

from .models import EventType, RequestStatus


@dataclass(frozen=True)
class Input:
    """One thing the caller gives with a transition: the API's serializer and the browser's form are built from it.

    - `kind`: "text" (up to 2,000 characters) or "quantity" (a whole number, at least `minimum`);
    - `default_from`: the request's field the service uses when the input is left out; the browser's form starts
      from that value, so there the input is always sent (and required);
    - `label` names it in the browser, `help_text` describes it in the API schema."""

    name: str
    label: str | Promise
    kind: str = "text"
    required: bool = False
    minimum: int = 1
    default_from: str | None = None
    help_text: str | Promise = ""


COMMENT = Input("comment", _("Comment"))


@dataclass(frozen=True)
class Transition:
    """One move of a request.

    - `action`: its name in URLs and rules ('approve' -> ``request.approve``, ``/requests/{id}/approve/``);
    - `sources` -> `target`: the statuses it leaves and the one it reaches;
    - `party`: who may make it (``nations.access.Party``); the request's author never may when
      `separation_of_duties` is set;
    - `fields`: what the caller gives besides the request (``Input``);
    - `service`, `actor`: the function of ``coordination.services`` that makes it, and its keyword for who acts;
    - `event`: the notification/webhook event it raises (None: nobody is told), `audience`: which nation's holders
      of which role hear of it; `operators_of`: the request's center whose operators are told too, because the
      move leaves work waiting there (an approval: a dispatch at the source; a dispatch: a receipt at the
      destination);
    - `acting_side`: the nation on whose behalf it is made, for the audit log;
    - `label`, `confirm`, `style`: the button, its confirmation question and its look in the browser;
    - `queue`: the dashboard queue of requests waiting for this move by the viewer (None: no queue).
    """

    action: str
    sources: frozenset[str]
    target: str
    party: Party
    refusal: str | Promise
    label: str | Promise
    confirm: str | Promise
    service: str = ""
    actor: str = "actor"
    fields: tuple[Input, ...] = (COMMENT,)
    separation_of_duties: bool = False
    event: str | None = None
    audience: tuple[str, str] | None = None  # (nation field of the request, role)
    operators_of: str | None = None  # center field of the request
    acting_side: str = "requesting_nation"
    style: str = ""
    queue: str | None = None

    @property
    def permission(self) -> str:
        return f"request.{self.action}"

    def acting_nation_id(self, request) -> int:
        """The nation on whose behalf this move of `request` is made (the audit entry's nation)."""
        return getattr(request, f"{self.acting_side}_id")


TRANSITIONS: tuple[Transition, ...] = (
    Transition(
        action="submit",
        sources=frozenset({RequestStatus.DRAFT}),
        target=RequestStatus.SUBMITTED,
        party=Party.REQUESTER,
        refusal=_("You may not submit this request."),
        label=_("Submit"),
        confirm=_("Submit this request to the supplying nation?"),
        service="submit_request",
        event=EventType.REQUEST_SUBMITTED,
        audience=("supplying_nation", Role.LIAISON),
        queue="draft",
    ),
    Transition(
        action="approve",
        sources=frozenset({RequestStatus.SUBMITTED}),
        target=RequestStatus.APPROVED,
        party=Party.SUPPLIER_LIAISON,
        separation_of_duties=True,
        refusal=_("You may not approve this request."),
        label=_("Approve"),
        confirm=_("Approve and reserve this quantity?"),
        service="approve_request",
        actor="approver",
        fields=(
            Input(
                "quantity",
                _("Quantity to approve"),
                kind="quantity",
                default_from="quantity_requested",
                help_text="Approve less than requested; defaults to the full quantity.",
            ),
            COMMENT,
        ),
        event=EventType.REQUEST_APPROVED,
        audience=("requesting_nation", Role.LOGISTICS),
        operators_of="source_center",
        acting_side="supplying_nation",
        queue="approval",
    ),
    Transition(
        action="reject",
        sources=frozenset({RequestStatus.SUBMITTED}),
        target=RequestStatus.REJECTED,
        party=Party.SUPPLIER_LIAISON,
        separation_of_duties=True,
        refusal=_("You may not reject this request."),
        label=_("Reject"),
        confirm=_("Reject this request?"),
        service="reject_request",
        actor="approver",
        fields=(Input("reason", _("Reason for the refusal"), required=True),),
        event=EventType.REQUEST_REJECTED,
        audience=("requesting_nation", Role.LOGISTICS),
        acting_side="supplying_nation",
        style="danger",
    ),
    Transition(
        action="dispatch",
        sources=frozenset({RequestStatus.APPROVED}),
        target=RequestStatus.DISPATCHED,
        party=Party.DISPATCHER,
        refusal=_("You may not dispatch this request."),
        label=_("Dispatch"),
        confirm=_("Dispatch the approved quantity now?"),
        service="dispatch_request",
        event=EventType.REQUEST_DISPATCHED,
        audience=("requesting_nation", Role.LOGISTICS),
        operators_of="destination_center",
        acting_side="supplying_nation",
        queue="dispatch",
    ),
    Transition(
        action="receive",
        sources=frozenset({RequestStatus.DISPATCHED}),
        target=RequestStatus.RECEIVED,
        party=Party.RECEIVER,
        refusal=_("You may not receive this request."),
        label=_("Receive"),
        confirm=_("Book this receipt?"),
        service="receive_request",
        fields=(
            Input(
                "quantity",
                _("Quantity received"),
                kind="quantity",
                minimum=0,
                default_from="quantity_dispatched",
                help_text="What arrived; defaults to the dispatched quantity.",
            ),
            COMMENT,
        ),
        event=EventType.REQUEST_RECEIVED,
        audience=("requesting_nation", Role.LOGISTICS),
        queue="receipt",
    ),
    Transition(
        action="cancel",
        sources=frozenset({RequestStatus.DRAFT, RequestStatus.SUBMITTED, RequestStatus.APPROVED}),
        target=RequestStatus.CANCELLED,
        party=Party.REQUESTER,
        refusal=_("You may not cancel this request."),
        label=_("Cancel request"),
        confirm=_("Cancel this request?"),
        service="cancel_request",
        style="secondary",
    ),
)

BY_ACTION: dict[str, Transition] = {t.action: t for t in TRANSITIONS}
BY_EVENT: dict[str, Transition] = {t.event: t for t in TRANSITIONS if t.event}
ACTIONS: tuple[str, ...] = tuple(BY_ACTION)


def transition(action: str) -> Transition:
    """The row of `action`; KeyError for a name that is not a transition."""
    return BY_ACTION[action]


def next_statuses(status: str) -> set[str]:
    """The statuses a request in `status` may move to."""
    return {t.target for t in TRANSITIONS if status in t.sources}


def allowed_from(status: str, action: str) -> bool:
    return status in BY_ACTION[action].sources


def available_actions(user, request) -> list[Transition]:
    """The transitions `user` may make on `request` now (its status allows them and the rule says yes)."""
    return [t for t in TRANSITIONS if request.status in t.sources and access.can(user, t.permission, request)]


# --- the rules, registered once with the access layer --------------------------------------------------------------


def rule_of(t: Transition) -> access.Rule:
    """The access rule of a row: its party may make it (never the author, with separation of duties)."""
    party = t.party
    return access.Rule(
        allows=lambda p, r: access.holds_party(p, party, r),
        refusal=t.refusal,
        explain=separation_of_duties_refusal if t.separation_of_duties else None,
    )


CREATE_RULE = access.Rule(
    allows=lambda p, r: access.holds_party(p, Party.REQUESTER, r), refusal=_("You may not create this request.")
)


def register_rules() -> None:
    """Called once when the app is ready (``CoordinationConfig.ready``)."""
    access.register("request.create", CREATE_RULE)
    for t in TRANSITIONS:
        access.register(t.permission, rule_of(t))
