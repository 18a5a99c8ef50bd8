from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from nations.tokens import issue_token


class Command(BaseCommand):
    help = "Issue an API token for a user (a national system's service account). The token is printed once."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--expires",
            type=int,
            metavar="DAYS",
            help="Days until the token expires (default API_TOKEN_DEFAULT_DAYS, at most API_TOKEN_MAX_DAYS).",
        )
        parser.add_argument("--name", default="", help="What the token is for.")

    def handle(self, *args, username, expires, name, **options):
        try:
            user = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive.")
        try:
            token, raw = issue_token(user=user, name=name, expires_in_days=expires)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(raw)
        self.stderr.write(
            f"Token {token.prefix}… for {username} (expires {token.expires_at:%Y-%m-%d %H:%M} UTC). "
            "It is shown only this once."
        )
