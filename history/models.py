"""Change history of the business tables, written by PostgreSQL triggers (django-pghistory).

Each tracked table has an event table here (``<Name>Event``): every INSERT, UPDATE and DELETE of a row writes a
copy of it there in the same statement, whoever wrote it — a ``save()``, a ``queryset.update()``,
``bulk_create``, the admin or raw SQL.  Each event carries ``pgh_label`` (insert / update / delete, ...),
``pgh_created_at`` and ``pgh_context``: who (user id), through which path, with which API token, set by
``core.change_context.HistoryContextMiddleware`` for every write request.

Tracking is declared on proxy models in this one module rather than on the models themselves: this is the
one list of what is tracked, and the triggers and event tables migrate with this app alone (the tables of
Django's auth and of django-guardian, which hold the role grants, can only be tracked through a proxy anyway).

What is left out, and why: the quantities of a stock (``on_hand``, ``reserved``), whose history is the movement
ledger; stock rows' insertion (a million rows come by COPY, thousands by a stock report); the movement ledger
itself (append-only already); flags, notifications and runs, which the jobs rewrite constantly and which are
not anyone's decision.  Token hashes, webhook secrets and password hashes are never copied: a change of the
secret or the password is recorded as an event without the value.

PostgreSQL only: on SQLite (``make run``) the event tables exist but stay empty, as pgtrigger installs no
trigger there.
"""

import pghistory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from coordination.models import (
    DaysOfSupplyTarget,
    Requisition,
    RequisitionLine,
    Shipment,
    SupplyRequest,
    WebhookEndpoint,
)
from inventory.models import (
    CenterGroupObjectPermission,
    CenterUserObjectPermission,
    Item,
    ItemSubstitute,
    LogisticsCenter,
    Stock,
)
from nations.models import ApiToken, Nation, NationGroupObjectPermission, NationUserObjectPermission, ServiceAccount

User = get_user_model()


def _rows():
    """Inserts, deletes, and updates that change something other than an auto_now timestamp."""
    return (
        pghistory.InsertEvent(),
        pghistory.UpdateEvent(condition=pghistory.AnyChange(exclude_auto=True)),
        pghistory.DeleteEvent(),
    )


def _links():
    """A link table (many-to-many, permission grants): rows are added and removed, never changed."""
    return pghistory.InsertEvent(), pghistory.DeleteEvent()


def _event_model(proxy, name: str, *trackers, fields=None):
    return pghistory.create_event_model(
        proxy,
        *trackers,
        fields=fields,
        app_label="history",
        model_name=name,
        abstract=False,
        # context stored on the event row itself: no shared context table to upsert on every write
        context_field=pghistory.ContextJSONField(),
        obj_field=pghistory.ObjForeignKey(related_name="history", related_query_name="history"),
    )


# Each tracked table has a proxy here, which carries its triggers, and an event table.

# --- reference data ------------------------------------------------------------------------------------------


class TrackedNation(Nation):
    class Meta:
        proxy = True


class TrackedCenter(LogisticsCenter):
    class Meta:
        proxy = True


class TrackedCenterParticipant(LogisticsCenter.participants.through):
    class Meta:
        proxy = True


class TrackedItem(Item):
    class Meta:
        proxy = True


class TrackedItemSubstitute(ItemSubstitute):
    class Meta:
        proxy = True


NationEvent = _event_model(TrackedNation, "NationEvent", *_rows())
CenterEvent = _event_model(TrackedCenter, "CenterEvent", *_rows())
CenterParticipantEvent = _event_model(TrackedCenterParticipant, "CenterParticipantEvent", *_links())
ItemEvent = _event_model(TrackedItem, "ItemEvent", *_rows())
ItemSubstituteEvent = _event_model(TrackedItemSubstitute, "ItemSubstituteEvent", *_rows())


# --- stock settings: planning figures, sharing and release list, not quantities ----------------------------------------------


class TrackedStockSettings(Stock):
    class Meta:
        proxy = True


_SETTINGS = ("safety_level", "daily_consumption", "shared", "release_list")
# Both sides of a change, so the first change of a stock shows what it was before (stocks are created without
# an event: they come by the million through COPY).  The WHEN condition is evaluated on every stock UPDATE,
# but only a change of these columns runs the trigger's function (a release list's nations never change: its id
# in the event says to whom the stock was releasable): a movement's update of on_hand skips it.
# PostgreSQL fires the two triggers in the order of their names, so "settings_from" is written first.
StockSettingsEvent = _event_model(
    TrackedStockSettings,
    "StockSettingsEvent",
    pghistory.UpdateEvent("settings_from", row=pghistory.Old, condition=pghistory.AnyChange(*_SETTINGS)),
    pghistory.UpdateEvent("settings_to", row=pghistory.New, condition=pghistory.AnyChange(*_SETTINGS)),
    pghistory.DeleteEvent(),
    fields=["id", "nation", "center", "item", *_SETTINGS],
)


# --- requests and national settings ---------------------------------------------------------------------------


class TrackedSupplyRequest(SupplyRequest):
    class Meta:
        proxy = True


class TrackedRequisition(Requisition):
    class Meta:
        proxy = True


class TrackedRequisitionLine(RequisitionLine):
    class Meta:
        proxy = True


class TrackedShipment(Shipment):
    class Meta:
        proxy = True


class TrackedSupplyTarget(DaysOfSupplyTarget):
    class Meta:
        proxy = True


class TrackedWebhook(WebhookEndpoint):
    class Meta:
        proxy = True


SupplyRequestEvent = _event_model(TrackedSupplyRequest, "SupplyRequestEvent", *_rows())
RequisitionEvent = _event_model(TrackedRequisition, "RequisitionEvent", *_rows())
RequisitionLineEvent = _event_model(TrackedRequisitionLine, "RequisitionLineEvent", *_rows())
ShipmentEvent = _event_model(TrackedShipment, "ShipmentEvent", *_rows())
SupplyTargetEvent = _event_model(TrackedSupplyTarget, "SupplyTargetEvent", *_rows())
WebhookEvent = _event_model(
    TrackedWebhook,
    "WebhookEvent",
    pghistory.InsertEvent(),
    # a new secret is an event too, though the secret itself is not copied
    pghistory.UpdateEvent(condition=pghistory.AnyChange("nation", "owner", "url", "events", "active", "secret")),
    pghistory.DeleteEvent(),
    fields=["id", "nation", "owner", "url", "events", "active", "created_at", "updated_at"],
)


# --- who may act: users, role groups, grants, national systems and their tokens ---------------------------------


class TrackedUser(User):
    class Meta:
        proxy = True


class TrackedUserGroup(User.groups.through):
    class Meta:
        proxy = True


class TrackedUserPermission(User.user_permissions.through):
    class Meta:
        proxy = True


class TrackedGroupPermission(Group.permissions.through):
    class Meta:
        proxy = True


class TrackedNationGroupGrant(NationGroupObjectPermission):
    class Meta:
        proxy = True


class TrackedNationUserGrant(NationUserObjectPermission):
    class Meta:
        proxy = True


class TrackedCenterGroupGrant(CenterGroupObjectPermission):
    class Meta:
        proxy = True


class TrackedCenterUserGrant(CenterUserObjectPermission):
    class Meta:
        proxy = True


class TrackedServiceAccount(ServiceAccount):
    class Meta:
        proxy = True


class TrackedApiToken(ApiToken):
    class Meta:
        proxy = True


_USER = ["id", "username", "email", "first_name", "last_name", "is_active", "is_staff", "is_superuser"]
UserEvent = _event_model(
    TrackedUser,
    "UserEvent",
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(condition=pghistory.AnyChange(*_USER)),  # not last_login: every sign-in changes it
    pghistory.UpdateEvent("password_changed", condition=pghistory.AnyChange("password")),
    pghistory.DeleteEvent(),
    fields=_USER,
)
UserGroupEvent = _event_model(TrackedUserGroup, "UserGroupEvent", *_links())
UserPermissionEvent = _event_model(TrackedUserPermission, "UserPermissionEvent", *_links())
GroupPermissionEvent = _event_model(TrackedGroupPermission, "GroupPermissionEvent", *_links())
NationGroupGrantEvent = _event_model(TrackedNationGroupGrant, "NationGroupGrantEvent", *_rows())
NationUserGrantEvent = _event_model(TrackedNationUserGrant, "NationUserGrantEvent", *_rows())
CenterGroupGrantEvent = _event_model(TrackedCenterGroupGrant, "CenterGroupGrantEvent", *_rows())
CenterUserGrantEvent = _event_model(TrackedCenterUserGrant, "CenterUserGrantEvent", *_rows())
ServiceAccountEvent = _event_model(TrackedServiceAccount, "ServiceAccountEvent", *_rows())
# not last_used_at (touched once a minute by a busy system) nor the hash
_TOKEN = ["id", "user", "name", "prefix", "created_at", "expires_at", "revoked_at"]
ApiTokenEvent = _event_model(
    TrackedApiToken,
    "ApiTokenEvent",
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(condition=pghistory.AnyChange(*[f for f in _TOKEN if f != "id"])),
    pghistory.DeleteEvent(),
    fields=_TOKEN,
)
