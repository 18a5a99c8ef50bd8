"""Two-factor sign-in: after the password, a code from an authenticator app (TOTP) or a one-time backup code.

Who must give one: the roles named in ``TWO_FACTOR_REQUIRED_ROLES`` (by default liaison officers, coordinators and
administrators), read from the access profile every request already loads; and anyone who has enrolled a device,
whatever their role.  Until they have, :class:`TwoFactorMiddleware` confines their signed-in session to the code and
enrolment pages, the language switch and signing out: pages redirect there, session calls to the API answer 403
problem+json, and calls with an API token pass untouched (DRF authenticates the token after the middleware, and a
token is never the browser's session).

Codes are checked under the device's row lock with django-otp's throttling (each wrong code doubles the wait before
that device accepts another), and every refused code, every enrolment and every reset is in the audit log, never the
typed code nor the secret.

Whether a user has a device is read once per sign-in and kept in the session (``ENROLLED``): a page view costs no
query for it.  Enrolling or removing a device in the session updates it; a device enrolled in another browser is
asked for from that browser's next sign-in.
"""

from __future__ import annotations

import json
from base64 import b32encode
from contextvars import ContextVar
from dataclasses import dataclass
from urllib.parse import urlencode

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in
from django.db import transaction
from django.db.models.signals import post_delete
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp import login as otp_login
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp.util import random_hex

from core.api.problems import PROBLEM_CONTENT_TYPE, problem_body
from core.middleware import DATABASE_UNAVAILABLE, DatabaseUnavailableMiddleware

from .access.profile import profile
from .api.authentication import ApiTokenAuthentication
from .audit import home_nation_id, record
from .models import AuditKind

BACKUP_CODE_COUNT = 10
AUTHENTICATOR_NAME = "Authenticator app"
BACKUP_CODES_NAME = "Backup codes"

# session keys: whether the user had a device when signing in; the secret offered for enrolment, not yet confirmed
ENROLLED = "two_factor_enrolled"
PENDING_SECRET = "two_factor_pending_secret"

# what an unverified session may still reach (URL names)
OPEN_WHILE_UNVERIFIED = frozenset({"two-factor-verify", "two-factor-enrol", "logout", "set_language"})


# --- who must give a code ----------------------------------------------------------------------------------------


def required_for(user) -> bool:
    """Whether `user`'s role makes a second factor mandatory (``TWO_FACTOR_REQUIRED_ROLES``).

    "admin" is a superuser or staff member; the others read the user's grants from the access profile (a superuser
    counts as a coordinator there, as everywhere in the portal)."""
    roles = set(settings.TWO_FACTOR_REQUIRED_ROLES)
    if not roles or not getattr(user, "is_authenticated", False):
        return False
    if "admin" in roles and (user.is_superuser or user.is_staff):
        return True
    roles.discard("admin")
    if not roles:
        return False
    held = profile(user)
    return bool(
        ("coordinator" in roles and held.coordinator)
        or ("liaison" in roles and held.liaison_nations)
        or ("logistics" in roles and held.logistics_nations)
        or ("operator" in roles and held.operated_centers)
    )


def authenticator_of(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


def backup_codes_of(user) -> StaticDevice | None:
    return StaticDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


_THE_USER = object()  # the default actor of an entry: the user it is about


def _audit(kind: str, *, user, summary: str, details: dict, actor=_THE_USER) -> None:
    """One two-factor audit entry about `user`, for their nation, by `user` unless another `actor` (None: the
    system) is named."""
    actor = user if actor is _THE_USER else actor
    record(kind, actor=actor, nation=home_nation_id(user), obj=user, summary=summary, details=details)


def _backup_device(user) -> StaticDevice:
    return backup_codes_of(user) or StaticDevice.objects.create(user=user, name=BACKUP_CODES_NAME)


def has_device(user) -> bool:
    """An authenticator app, or backup codes not all used: something the user can sign in with."""
    return (
        TOTPDevice.objects.filter(user=user, confirmed=True).exists()
        or StaticToken.objects.filter(device__user=user, device__confirmed=True).exists()
    )


def is_verified(request) -> bool:
    verified = getattr(request.user, "is_verified", None)
    return bool(verified and verified())


def enrolled(request) -> bool:
    """Whether the signed-in user has a device, as read at sign-in (read now for a session older than that)."""
    if ENROLLED not in request.session:
        request.session[ENROLLED] = has_device(request.user)
    return request.session[ENROLLED]


def needs_code(request) -> bool:
    """A signed-in user who has not given a code in this session and must: required by role, or enrolled."""
    user = request.user
    if not user.is_authenticated or is_verified(request):
        return False
    return required_for(user) or enrolled(request)


def safe_next(request, target: str | None) -> str:
    """Where to go after the code: `target` when it stays on this site, else the dashboard (no open redirect)."""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse(settings.LOGIN_REDIRECT_URL)


def page_with_next(name: str, target: str | None) -> str:
    url = reverse(name)
    return f"{url}?{urlencode({'next': target})}" if target else url


# --- the codes -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeCheck:
    device: TOTPDevice | StaticDevice | None  # the device that accepted the code
    wait_seconds: int = 0  # refused unseen: the device waits this long after the last wrong code

    @property
    def accepted(self) -> bool:
        return self.device is not None


def normalise(code: str) -> str:
    """People type codes with spaces or hyphens (``123 456``, ``abcd-efgh``) and in capitals."""
    return "".join(ch for ch in str(code or "") if ch not in " -\t").lower()[:32]


def _method(code: str) -> tuple[type[TOTPDevice] | type[StaticDevice], str]:
    # six digits is the app's code; a backup code is eight letters and digits
    if code.isdigit() and len(code) == 6:
        return TOTPDevice, "authenticator app"
    return StaticDevice, "backup code"


def check_code(*, user, code: str, purpose: str) -> CodeCheck:
    """Check `code` against the user's authenticator app or backup codes, under the device's row lock and
    django-otp's throttling (a device that refused a code refuses every code, right ones too, until its wait is
    over).  A refused code is audited (``TWO_FACTOR_FAILED``) with what it was for, never the code itself; a backup
    code is used up when it is accepted."""
    code = normalise(code)
    model, method = _method(code)
    with transaction.atomic():
        device = (
            model.objects.select_for_update().filter(user=user, confirmed=True).order_by("pk").first() if code else None
        )
        wait = 0
        accepted = False
        if device is not None:
            allowed, info = device.verify_is_allowed()
            if allowed:
                accepted = device.verify_token(code)
            else:
                wait = max(1, int((info["locked_until"] - timezone.now()).total_seconds() + 0.999)) if info else 1
        if accepted:
            return CodeCheck(device)
        failures = device.throttling_failure_count if device is not None else None
        _audit(
            AuditKind.TWO_FACTOR_FAILED,
            user=user,
            summary=f"Two-factor code refused for {user.username} ({purpose}, {method}"
            + (f", throttled for {wait} s" if wait else "")
            + ")",
            details={
                "purpose": purpose,
                "method": method,
                "throttled": bool(wait),
                "consecutive_failures": failures,
                "has_such_device": device is not None,
            },
        )
        return CodeCheck(None, wait_seconds=wait)


def verify_sign_in(*, request, code: str) -> CodeCheck:
    """The second step of signing in: on a right code the session is verified (and its key renewed, so a session
    id seen before the code is worth nothing after it)."""
    result = check_code(user=request.user, code=code, purpose="sign-in")
    if result.accepted:
        request.session.cycle_key()
        otp_login(request, result.device)
        request.session[ENROLLED] = True
    return result


def new_secret() -> str:
    """A fresh TOTP secret (20 random bytes, hex as django-otp stores it)."""
    return random_hex(20)


def pending_secret(request) -> str:
    """The secret offered on the enrolment page, kept in the session until confirmed: reloading the page shows the
    same one, so a code from an app that scanned it still matches."""
    if not request.session.get(PENDING_SECRET):
        request.session[PENDING_SECRET] = new_secret()
    return request.session[PENDING_SECRET]


def unsaved_authenticator(*, user, secret: str) -> TOTPDevice:
    return TOTPDevice(user=user, key=secret, name=AUTHENTICATOR_NAME, confirmed=False)


def base32_secret(device: TOTPDevice) -> str:
    """The secret as authenticator apps take it typed in: base32, in groups of four."""
    text = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def qr_code_svg(text: str) -> str:
    """`text` as a QR code in inline SVG (no script, no image request: the CSP allows neither)."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    svg = image.to_string(encoding="unicode")
    return svg.replace("<svg ", '<svg class="qr" role="img" aria-label="QR code" ', 1)


def _new_backup_codes(device: StaticDevice) -> list[str]:
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


def enrol_authenticator(*, request, secret: str, code: str) -> list[str] | None:
    """Confirm the authenticator app set up with `secret` by its first code: the app becomes the user's (replacing
    any earlier one), 10 new backup codes replace any earlier ones, and this session is verified.  Returns the
    backup codes, to be shown once, or None when the code does not match."""
    user = request.user
    device = unsaved_authenticator(user=user, secret=secret)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    code = normalise(code)
    if not (code.isdigit() and totp.verify(int(code), tolerance=device.tolerance)):
        _audit(
            AuditKind.TWO_FACTOR_FAILED,
            user=user,
            summary=f"Two-factor code refused for {user.username} (enrolment, authenticator app)",
            details={"purpose": "enrolment", "method": "authenticator app", "throttled": False},
        )
        return None
    with transaction.atomic(), quiet_device_deletions():
        TOTPDevice.objects.filter(user=user).delete()
        device.confirmed = True
        device.last_t = totp.t()  # the code just given cannot be given again
        device.drift = totp.drift
        device.save()
        backup = _backup_device(user)
        codes = _new_backup_codes(backup)
        _audit(
            AuditKind.TWO_FACTOR_ENROLLED,
            user=user,
            summary=f"{user.username} set up two-factor sign-in (authenticator app, {len(codes)} backup codes)",
            details={"device": AUTHENTICATOR_NAME, "backup_codes": len(codes)},
        )
    request.session.pop(PENDING_SECRET, None)
    request.session.cycle_key()
    otp_login(request, device)
    request.session[ENROLLED] = True
    return codes


def renew_backup_codes(*, user) -> list[str]:
    """10 new backup codes for `user`; the earlier ones stop working."""
    with transaction.atomic():
        backup = _backup_device(user)
        codes = _new_backup_codes(backup)
        _audit(
            AuditKind.TWO_FACTOR_RESET,
            user=user,
            summary=f"{user.username} renewed their backup codes ({len(codes)})",
            details={"backup_codes": len(codes), "renewed": True},
        )
    return codes


def reset_two_factor(*, user, actor, reason: str) -> int:
    """Remove every two-factor device of `user` (their app and backup codes): they sign in with the password
    alone again, or are asked to enrol again when their role requires it.  One audit entry; returns the number of
    devices removed."""
    with transaction.atomic(), quiet_device_deletions():
        removed = TOTPDevice.objects.filter(user=user).delete()[1].get(TOTPDevice._meta.label, 0)
        removed += StaticDevice.objects.filter(user=user).delete()[1].get(StaticDevice._meta.label, 0)
        by = "themselves" if actor is not None and actor.pk == user.pk else getattr(actor, "username", "the system")
        _audit(
            AuditKind.TWO_FACTOR_RESET,
            user=user,
            actor=actor,
            summary=f"Two-factor sign-in of {user.username} reset by {by} ({removed} device(s) removed)",
            details={"user": user.username, "devices_removed": removed, "reason": reason},
        )
    return removed


def remove_own_two_factor(*, request, code: str) -> CodeCheck:
    """A user removes their own devices, proving the second factor once more.  The caller has checked that their
    role does not require it."""
    result = check_code(user=request.user, code=code, purpose="removal")
    if result.accepted:
        reset_two_factor(user=request.user, actor=request.user, reason="removed by the user")
        request.session.pop(DEVICE_ID_SESSION_KEY, None)
        request.session[ENROLLED] = False
    return result


# --- devices deleted elsewhere (the admin's delete pages, a shell) are audited too -------------------------------

_quiet: ContextVar[bool] = ContextVar("two_factor_quiet_deletions", default=False)


class quiet_device_deletions:
    """Inside, device deletions are not audited one by one: the service records one entry for the whole reset."""

    def __enter__(self):
        self._token = _quiet.set(True)

    def __exit__(self, *exc):
        _quiet.reset(self._token)


def _on_device_deleted(sender, instance, **kwargs):
    if _quiet.get():
        return
    user = get_user_model()._default_manager.filter(pk=instance.user_id).first()
    username = user.username if user is not None else f"user {instance.user_id}"
    record(
        AuditKind.TWO_FACTOR_RESET,
        nation=home_nation_id(user) if user is not None else None,
        obj=user,
        summary=f"Two-factor device removed from {username}: {instance.name or sender._meta.verbose_name}",
        details={"user": username, "device": sender._meta.verbose_name, "devices_removed": 1},
    )


def _on_login(sender, request, user, **kwargs):
    """Read at each sign-in whether the user has a device: the code is asked for from the first page on."""
    if request is not None and hasattr(request, "session"):
        request.session[ENROLLED] = has_device(user)
        request.session.pop(PENDING_SECRET, None)


def connect_signals() -> None:
    user_logged_in.connect(_on_login, dispatch_uid="two_factor_login")
    for model in (TOTPDevice, StaticDevice):
        post_delete.connect(_on_device_deleted, sender=model, dispatch_uid=f"two_factor_deleted_{model._meta.label}")


# --- the gate ------------------------------------------------------------------------------------------------------


def _carries_api_token(request) -> bool:
    scheme = request.META.get("HTTP_AUTHORIZATION", "").split(" ", 1)[0].lower()
    return scheme in ApiTokenAuthentication.keywords


def _open_while_unverified(request) -> bool:
    if request.path_info.startswith("/" + settings.STATIC_URL.lstrip("/")):
        return True
    try:
        return resolve(request.path_info).url_name in OPEN_WHILE_UNVERIFIED
    except Resolver404:
        return False


class TwoFactorMiddleware:
    """Confines a signed-in user who owes a code to the pages where they give it (see the module's docstring).

    After AuthenticationMiddleware and django-otp's OTPMiddleware; the admin is behind it like every page, so its
    own sign-in form is a password step like the portal's, never a way around the code."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info.startswith("/api/") and _carries_api_token(request):
            return self.get_response(request)  # DRF authenticates the token; the session plays no part
        try:
            owes_code = needs_code(request)  # reads the session, the user and their grants: the database
        except DATABASE_UNAVAILABLE as exc:
            # closed, not open: without the database nobody is let past the code (503, as for any page)
            return DatabaseUnavailableMiddleware(self.get_response).process_exception(request, exc)
        if not owes_code or _open_while_unverified(request):
            return self.get_response(request)
        if request.path_info.startswith("/api/"):
            body = problem_body(
                403,
                "Give your two-factor code on the portal's sign-in page before using the API with this session.",
                "two_factor_required",
            )
            return HttpResponse(json.dumps(body), status=403, content_type=PROBLEM_CONTENT_TYPE)
        page = "two-factor-verify" if enrolled(request) else "two-factor-enrol"
        target = request.get_full_path() if request.method in ("GET", "HEAD") else None
        url = page_with_next(page, target)
        if request.headers.get("HX-Request") == "true":  # htmx follows it as a whole page, not a fragment
            return HttpResponseClientRedirect(url)
        return redirect(url)
