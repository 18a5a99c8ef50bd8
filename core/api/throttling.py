"""API budgets: one per API token, one per signed-in user, and one per client address for every call that does
not authenticate (anonymous, or with a bad token); each answer says where the caller stands (``RateLimit``).

DRF runs throttles after authentication and permissions, so a bad token (401) or an anonymous call (401/403)
never reached a throttle and the address budget never applied.  The address budget is therefore charged during
authentication: by :class:`AddressBudget`, the last authentication class (reached only when no credentials
authenticated the call), and by a token authentication that refuses a token (``charge_address_budget``).  Past
the budget the answer is 429 with Retry-After instead of 401/403.  A valid token or session is never charged to
its address: it has its own budget (:class:`CallerRateThrottle`, after permissions as usual).

A budget is a counter per fixed window (``N/minute``: the calls of this clock minute), one increment in the cache
per call: on Redis, INCR and EXPIRE NX in one round trip on a client the process shares.  DRF's sliding window stored the time of every call of the window -- up to 6,000 timestamps, about 54 KB
read and written back per call -- for a precision no caller needs.  A fixed window lets a burst of up to twice the
budget straddle a window's end; the budgets are set far above what a national system sends.

The client address is the one django-axes uses (``AXES_PROXY_COUNT`` proxies trusted), not DRF's, which takes
any ``X-Forwarded-For`` header at its word and so would give a forged header a fresh budget each call.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from axes.helpers import get_client_ip_address
from django.conf import settings
from django.core.cache import cache
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import authentication, exceptions
from rest_framework.throttling import BaseThrottle

log = logging.getLogger(__name__)

# set on the Django request once its address has been charged, so CallerRateThrottle does not charge it twice
_CHARGED = "_address_budget_charged"
# set on the Django request by the budget charged, read by RateLimitHeadersMiddleware
_STANDING = "_rate_limit_standing"

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Standing:
    """Where a caller stands in one budget after this call (the draft IETF RateLimit fields)."""

    policy: str  # "token", "user" or "address"
    limit: int
    window: int  # seconds
    remaining: int
    reset: int  # seconds until the window ends

    def headers(self) -> dict[str, str]:
        # draft-ietf-httpapi-ratelimit-headers (structured fields): q quota, w window, r remaining, t reset
        return {
            "RateLimit-Policy": f'"{self.policy}";q={self.limit};w={self.window}',
            "RateLimit": f'"{self.policy}";r={self.remaining};t={self.reset}',
        }


def parse_rate(rate: str) -> tuple[int, int]:
    """``"6000/minute"`` -> (6000, 60)."""
    count, _, period = rate.partition("/")
    return int(count), PERIODS[period[:1]]


def _count_call(key: str, window: int) -> int | None:
    """This window's calls so far, this one included; None when the cache cannot count (Redis down: let it be).
    On Redis, one round trip (``FailSoftRedisCache.count``); the per-process memory cache of a laptop adds and
    increments."""
    try:
        if hasattr(cache, "count"):
            return cache.count(key, window + 1)
        try:
            return cache.incr(key)
        except ValueError:  # the first call of the window (or the key just expired)
            if cache.add(key, 1, timeout=window + 1):
                return 1
            return cache.incr(key)
    except (ValueError, RedisConnectionError, RedisTimeoutError) as exc:
        log.warning("API budget not counted (%s); the call is let through", exc)
        return None


def spend(django_request, *, rate: str, ident: str, policy: str) -> Standing | None:
    """Count one call against the budget `rate` of `ident`; the standing after it (None: no budget, or not counted).
    Over the budget when ``remaining`` is 0 and the call was one too many: see :func:`over_budget`."""
    if not rate:
        return None
    limit, window = parse_rate(rate)
    now = time.time()
    used = _count_call(f"rl:{ident}:{int(now // window)}", window)
    if used is None:
        return None
    standing = Standing(policy, limit, window, max(limit - used, 0), max(math.ceil(window - now % window), 1))
    setattr(django_request, _STANDING, standing)
    if used > limit:
        raise exceptions.Throttled(wait=standing.reset)
    return standing


def charge_address_budget(request) -> None:
    """Count a call that did not authenticate against its client address; past ``API_RATE_ANON``, 429."""
    django_request = getattr(request, "_request", request)
    if getattr(django_request, _CHARGED, False):
        return
    setattr(django_request, _CHARGED, True)
    address = get_client_ip_address(django_request) or "unknown"
    spend(django_request, rate=settings.API_RATE_ANON, ident=f"anon:{address}", policy="address")


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


class CallerRateThrottle(BaseThrottle):
    """One budget per API token (each national-system token its own), else per user, else per address.

    Over budget answers 429 with Retry-After.  Rates: settings API_RATE_TOKEN / API_RATE_USER / API_RATE_ANON."""

    def allow_request(self, request, view):
        django_request = request._request
        # request.auth is the API token when one authenticated the call (session callers have none)
        if request.auth is not None and getattr(request.auth, "pk", None) is not None:
            spend(django_request, rate=settings.API_RATE_TOKEN, ident=f"token:{request.auth.pk}", policy="token")
        elif request.user and request.user.is_authenticated:
            spend(django_request, rate=settings.API_RATE_USER, ident=f"user:{request.user.pk}", policy="user")
        else:  # anonymous: charged during authentication already (AddressBudget), unless a view left that class out
            charge_address_budget(request)
        return True


class RateLimitHeadersMiddleware:
    """Adds ``RateLimit`` and ``RateLimit-Policy`` to every API answer whose call was counted (429s included)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        standing = getattr(request, _STANDING, None)
        if standing is not None:
            for name, value in standing.headers().items():
                response[name] = value
        return response
