from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class CallerRateThrottle(SimpleRateThrottle):
    """One budget per API token (each national-system token its own), else per user, else per address.

    Over budget answers 429 with Retry-After.  Rates: settings API_RATE_TOKEN / API_RATE_USER / API_RATE_ANON."""

    scope = "caller"

    def get_rate(self):
        return None  # chosen per request in allow_request

    def allow_request(self, request, view):
        # request.auth is the API token when one authenticated the call (session callers have none)
        if request.auth is not None and getattr(request.auth, "pk", None) is not None:
            self.rate, ident = settings.API_RATE_TOKEN, f"token:{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            self.rate, ident = settings.API_RATE_USER, f"user:{request.user.pk}"
        else:
            self.rate, ident = settings.API_RATE_ANON, f"anon:{self.get_ident(request)}"
        if not self.rate:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        self.key = self.cache_format % {"scope": self.scope, "ident": ident}
        self.history = self.cache.get(self.key, [])
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - self.duration:
            self.history.pop()
        if len(self.history) >= self.num_requests:
            return self.throttle_failure()
        return self.throttle_success()

    def get_cache_key(self, request, view):  # unused: allow_request builds the key itself
        return None
