from django.core.management.base import BaseCommand, CommandError

from nations.models import ApiToken
from nations.tokens import hash_token, revoke_token


class Command(BaseCommand):
    help = "Revoke an API token, given the token itself or the prefix shown when it was issued."

    def add_arguments(self, parser):
        parser.add_argument("token_or_prefix")

    def handle(self, *args, token_or_prefix, **options):
        matches = ApiToken.objects.filter(key_hash=hash_token(token_or_prefix))
        if not matches.exists():
            matches = ApiToken.objects.filter(prefix=token_or_prefix.rstrip("…"))
        count = matches.count()
        if count == 0:
            raise CommandError("No token matches.")
        if count > 1:
            raise CommandError(f"{count} tokens share that prefix; give the whole token or revoke in the admin.")
        token = revoke_token(token=matches.get())
        self.stdout.write(f"Revoked {token.prefix}… of {token.user.username}.")
