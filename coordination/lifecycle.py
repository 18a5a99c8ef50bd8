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
from django.utils.translation import pgettext_lazy

from nations import access
from nations.access import Party
from nations.roles import Role

from .models import EventType, RequestStatus


@dataclass(frozen=True)
class Transition:
    """One move of a request.

    - `action`: its name in URLs and rules ('approve' -> ``request.approve``, ``/requests/{id}/approve/``);
    - `sources` -> `target`: the statuses it leaves and the one it reaches;
    - `party`: who may make it (``nations.access.Party``); the request's author never may when
      `separation_of_duties` is set;
    - `fields`: what the caller gives besides the request (each optional unless listed in `required`);
    - `event`: the notification/webhook event it raises (None: nobody is told), `audience`: which nation's holders
      of which role hear of it;
    - `acting_side`: the nation on whose behalf it is made, for the audit log;
    - `label`, `confirm`, `style`: the button, its confirmation question and its look in the browser.
    """

    action: str
    sources: frozenset[str]
    target: str
    party: Party
    refusal: str | Promise
    label: str | Promise
    confirm: str | Promise
    fields: tuple[str, ...] = ("comment",)
    required: tuple[str, ...] = ()
    separation_of_duties: bool = False
    event: str | None = None
    audience: tuple[str, str] | None = None  # (nation field of the request, role)
    acting_side: str = "requesting_nation"
    style: str = ""

    @property
    def permission(self) -> str:
        return f"request.{self.action}"


TRANSITIONS: tuple[Transition, ...] = (
    Transition(
        action="submit",
        sources=frozenset({RequestStatus.DRAFT}),
        target=RequestStatus.SUBMITTED,
        party=Party.REQUESTER,
        refusal=_("You may not submit this request."),
        label=_("Submit"),
        confirm=_("Submit this request to the supplying nation?"),
        event=EventType.REQUEST_SUBMITTED,
        audience=("supplying_nation", Role.LIAISON),
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
        fields=("quantity", "comment"),
        event=EventType.REQUEST_APPROVED,
        audience=("requesting_nation", Role.LOGISTICS),
        acting_side="supplying_nation",
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
        fields=("reason",),
        required=("reason",),
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
        event=EventType.REQUEST_DISPATCHED,
        audience=("requesting_nation", Role.LOGISTICS),
        acting_side="supplying_nation",
    ),
    Transition(
        action="receive",
        sources=frozenset({RequestStatus.DISPATCHED}),
        target=RequestStatus.RECEIVED,
        party=Party.RECEIVER,
        refusal=_("You may not receive this request."),
        label=_("Receive"),
        confirm=_("Book this receipt?"),
        fields=("quantity", "comment"),
        event=EventType.REQUEST_RECEIVED,
        audience=("requesting_nation", Role.LOGISTICS),
    ),
    Transition(
        action="cancel",
        sources=frozenset({RequestStatus.DRAFT, RequestStatus.SUBMITTED, RequestStatus.APPROVED}),
        target=RequestStatus.CANCELLED,
        party=Party.REQUESTER,
        refusal=_("You may not cancel this request."),
        label=pgettext_lazy("button", "Cancel request"),
        confirm=_("Cancel this request?"),
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

SEPARATION_OF_DUTIES_REFUSAL = _("Whoever raised a request cannot approve it.")


def _rule(t: Transition) -> access.Rule:
    party = t.party
    return access.Rule(
        allows=lambda p, r: access.holds_party(p, party, r),
        refusal=t.refusal,
        author_refusal=SEPARATION_OF_DUTIES_REFUSAL if t.separation_of_duties else None,
    )


CREATE_RULE = access.Rule(
    allows=lambda p, r: access.holds_party(p, Party.REQUESTER, r), refusal=_("You may not create this request.")
)


def register_rules() -> None:
    """Called once when the app is ready (``CoordinationConfig.ready``)."""
    access.register("request.create", CREATE_RULE)
    for t in TRANSITIONS:
        access.register(t.permission, _rule(t))
