"""``manage.py grant_role USERNAME ROLE [NATION_OR_CENTER] [--revoke]``: give a user a role, or take it away.

Nation roles (logistics, liaison) name a nation code (FRA), the operator role a center code (MLC-NORTH), the
coordinator role nothing.  The grant is the same group membership the admin action gives
(``nations.access.grant_role``).
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from nations import access
from nations.admin import resolve_role_target
from nations.roles import GLOBAL_ROLES, Role, role_group_name


class Command(BaseCommand):
    help = "Grant a user a nation, center or alliance role (or take it away with --revoke)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("role", help=f"One of: {', '.join(Role.values)}.")
        parser.add_argument(
            "target",
            nargs="?",
            default=None,
            metavar="NATION_OR_CENTER",
            help="Nation code (FRA) for logistics and liaison, center code (MLC-NORTH) for "
            "operator; nothing for coordinator.",
        )
        parser.add_argument("--revoke", action="store_true", help="Take the role away instead of granting it.")

    def handle(self, *args, username: str, role: str, target: str | None, revoke: bool = False, **options):
        user_model = get_user_model()
        try:
            user = user_model.objects.get(**{user_model.USERNAME_FIELD: username})
        except user_model.DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None

        role = role.strip().lower()
        if role not in Role.values:
            raise CommandError(f"Unknown role {role!r}: choose one of {', '.join(Role.values)}.")
        role = Role(role)
        if role in GLOBAL_ROLES and target:
            raise CommandError(f"The {role.label.lower()} role is alliance-wide: give no nation or center.")
        try:
            subject = resolve_role_target(role, target)
        except ValueError as exc:
            raise CommandError(str(exc)) from None

        where = subject.code if subject is not None else "the alliance"
        if revoke:
            # Look the group up by name rather than through access.role_group, which would create it.
            group = Group.objects.filter(name=role_group_name(role, getattr(subject, "code", None))).first()
            if group is None or not user.groups.filter(pk=group.pk).exists():
                self.stdout.write(
                    f"{username} does not hold the {role.label.lower()} role for {where}; nothing to revoke."
                )
                return
            access.revoke_role(user, role, subject)
            self.stdout.write(self.style.SUCCESS(f"Revoked {role.label.lower()} ({where}) from {username}."))
        else:
            access.grant_role(user, role, subject)
            self.stdout.write(self.style.SUCCESS(f"Granted {role.label.lower()} ({where}) to {username}."))
        held = ", ".join(f"{label} ({code})" for label, code in access.roles_of(user)) or "none"
        self.stdout.write(f"{username} now holds: {held}.")
