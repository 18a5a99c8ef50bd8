from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from core import change_context as history_context
from core.api.throttling import charge_address_budget
from nations.tokens import authenticate_token


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <token>`` (or ``Token <token>``) for national systems."""

    keywords = ("bearer", "token")

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode(errors="replace").lower() not in self.keywords:
            return None
        if len(header) != 2:
            charge_address_budget(request)  # a refused call counts against its address's budget: 429 past it
            raise exceptions.AuthenticationFailed("Send the token as 'Authorization: Bearer <token>'.")
        token = authenticate_token(header[1].decode(errors="replace"))
        if token is None:
            charge_address_budget(request)
            raise exceptions.AuthenticationFailed("The token is unknown, expired or revoked.")
        history_context.add(api_token=token.prefix)  # change history says which token made a change
        return token.user, token

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = ApiTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A token from `manage.py issue_token`."}
