"""API budgets: one per API token, one per signed-in user, and one per client address for every call that does
not authenticate (anonymous, or with a bad token).

DRF runs throttles after authentication and permissions, so a bad token (401) or an anonymous call (401/403)
never reached a throttle and the address budget never applied.  The address budget is therefore charged during
authentication: by :class:`AddressBudget`, the last authentication class (reached only when no credentials
authenticated the call), and by a token authentication that refuses a token (``charge_address_budget``).  Past
the budget the answer is 429 with Retry-After instead of 401/403.  A valid token or session is never charged to
its address: it has its own budget (:class:`CallerRateThrottle`, after permissions as usual).

The client address is the one django-axes uses (``AXES_PROXY_COUNT`` proxies trusted), not DRF's, which takes
any ``X-Forwarded-For`` header at its word and so would give a forged header a fresh budget each call.
"""

from __future__ import annotations

from axes.helpers import get_client_ip_address
from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.throttling import SimpleRateThrottle

# set on the Django request once its address has been charged, so CallerRateThrottle does not charge it twice
_CHARGED = "_address_budget_charged"


class _Budget(SimpleRateThrottle):
    """DRF's sliding window, with the rate and key chosen per call: one cache read, and one write when allowed."""

    scope = "caller"

    def get_rate(self):
        return None  # chosen per call in spend

    def spend(self, rate: str, ident: str) -> bool:
        if not rate:
            return True
        self.rate = rate
        self.num_requests, self.duration = self.parse_rate(rate)
        self.key = self.cache_format % {"scope": self.scope, "ident": ident}
        self.history = self.cache.get(self.key, [])
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - self.duration:
            self.history.pop()
        if len(self.history) >= self.num_requests:
            return self.throttle_failure()
        return self.throttle_success()

    def get_cache_key(self, request, view):  # unused: spend builds the key itself
        return None


def charge_address_budget(request) -> None:
    """Count a call that did not authenticate against its client address; past ``API_RATE_ANON``, 429."""
    django_request = getattr(request, "_request", request)
    if getattr(django_request, _CHARGED, False):
        return
    setattr(django_request, _CHARGED, True)
    budget = _Budget()
    address = get_client_ip_address(django_request) or "unknown"
    if not budget.spend(settings.API_RATE_ANON, f"anon:{address}"):
        raise exceptions.Throttled(wait=budget.wait())


class AddressBudget(authentication.BaseAuthentication):
    """Last of the authentication classes: authenticates no one, charges the address of a call that no earlier
    class authenticated (an anonymous call), so that it is throttled before its permission check refuses it."""

    def authenticate(self, request):
        charge_address_budget(request)
        return None


class AddressBudgetScheme(OpenApiAuthenticationExtension):
    """Not a way to authenticate: nothing to document in the schema."""

    target_class = AddressBudget
    name: list[str] = []

    def get_security_requirement(self, auto_schema):
        return None

    def get_security_definition(self, auto_schema):
        return []


class CallerRateThrottle(_Budget):
    """One budget per API token (each national-system token its own), else per user, else per address.

    Over budget answers 429 with Retry-After.  Rates: settings API_RATE_TOKEN / API_RATE_USER / API_RATE_ANON."""

    def allow_request(self, request, view):
        # request.auth is the API token when one authenticated the call (session callers have none)
        if request.auth is not None and getattr(request.auth, "pk", None) is not None:
            return self.spend(settings.API_RATE_TOKEN, f"token:{request.auth.pk}")
        if request.user and request.user.is_authenticated:
            return self.spend(settings.API_RATE_USER, f"user:{request.user.pk}")
        # anonymous: charged during authentication already (AddressBudget), unless a view left that class out
        charge_address_budget(request)
        return True
