"""The two-factor pages: the code after the password, enrolment, and the user's own "Two-factor" page.

Each is about the signed-in user's own devices only, so there are no rows to restrict (``public_page``).  The rules
live in ``nations/two_factor.py``; these views read the form and show the outcome."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from core.web import public_page

from . import two_factor
from .forms import TwoFactorCodeForm


def _refusal(result: two_factor.CodeCheck) -> str:
    if result.wait_seconds:
        return _("Too many wrong codes. Wait %(seconds)s seconds, then try again.") % {"seconds": result.wait_seconds}
    return _("That code is not right. Try the current code of your app, or an unused backup code.")


def _backup_codes_page(request, codes: list[str], target: str | None, *, first: bool):
    response = render(
        request,
        "nations/two_factor_backup_codes.html",
        {"codes": codes, "next": two_factor.safe_next(request, target), "first": first},
    )
    response["Cache-Control"] = "no-store"  # shown once: not kept by the browser or a proxy
    return response


@public_page
@never_cache
@login_required
def verify(request):
    """The second step of signing in: a code from the authenticator app or a backup code."""
    target = request.POST.get("next") if request.method == "POST" else request.GET.get("next")
    if not two_factor.needs_code(request):
        return redirect(two_factor.safe_next(request, target))
    if not two_factor.has_device(request.user):
        # none (yet, or any more: an administrator reset them during this session)
        request.session[two_factor.ENROLLED] = False
        if not two_factor.required_for(request.user):
            return redirect(two_factor.safe_next(request, target))
        return redirect(two_factor.page_with_next("two-factor-enrol", target))
    form = TwoFactorCodeForm(request.POST or None, initial={"next": target})
    if request.method == "POST" and form.is_valid():
        result = two_factor.verify_sign_in(request=request, code=form.cleaned_data["code"])
        if result.accepted:
            return redirect(two_factor.safe_next(request, form.cleaned_data["next"]))
        form.add_error("code", _refusal(result))
    return render(request, "nations/two_factor_verify.html", {"form": form})


@public_page
@never_cache
@login_required
def enrol(request):
    """Set up an authenticator app: scan the QR code (or type the secret), confirm with the app's first code; the
    backup codes are then shown once."""
    user = request.user
    target = request.POST.get("next") if request.method == "POST" else request.GET.get("next")
    verified = two_factor.is_verified(request)
    if two_factor.authenticator_of(user) is not None:
        # one app per user: replacing it means removing it first, with a code
        return redirect("two-factor" if verified else two_factor.page_with_next("two-factor-verify", target))
    if not verified and two_factor.has_device(user):
        # backup codes left: they are proved before another device is added
        return redirect(two_factor.page_with_next("two-factor-verify", target))
    secret = two_factor.pending_secret(request)
    form = TwoFactorCodeForm(request.POST or None, initial={"next": target})
    if request.method == "POST" and form.is_valid():
        codes = two_factor.enrol_authenticator(request=request, secret=secret, code=form.cleaned_data["code"])
        if codes is not None:
            return _backup_codes_page(request, codes, form.cleaned_data["next"], first=True)
        form.add_error("code", _("That code is not right. Check the app's clock and enter the code it shows now."))
    device = two_factor.unsaved_authenticator(user=user, secret=secret)
    response = render(
        request,
        "nations/two_factor_enrol.html",
        {
            "form": form,
            "qr_svg": two_factor.qr_code_svg(device.config_url),
            "secret": two_factor.base32_secret(device),
            "required": two_factor.required_for(user),
        },
    )
    response["Cache-Control"] = "no-store"  # the secret is on the page
    return response


@public_page
@login_required
def account(request):
    """The user's "Two-factor" page: what they have, new backup codes, removing their devices."""
    user = request.user
    authenticator = two_factor.authenticator_of(user)
    backup = two_factor.backup_codes_of(user)
    context = {
        "authenticator": authenticator,
        "backup_codes_left": backup.token_set.count() if backup is not None else 0,
        "has_device": authenticator is not None or backup is not None,
        "required": two_factor.required_for(user),
        "verified": two_factor.is_verified(request),
        "form": TwoFactorCodeForm(),
    }
    return render(request, "nations/two_factor.html", context)


@public_page
@login_required
@require_POST
def renew_backup_codes(request):
    """New backup codes, shown once; the old ones stop working.  Only in a session verified by a code."""
    if not two_factor.is_verified(request):
        messages.error(request, _("Set up two-factor sign-in, or sign in with your code, first."))
        return redirect("two-factor")
    codes = two_factor.renew_backup_codes(user=request.user)
    return _backup_codes_page(request, codes, None, first=False)


@public_page
@login_required
@require_POST
def remove(request):
    """Remove one's own app and backup codes, with a current code, when one's role does not require them."""
    if two_factor.required_for(request.user):
        raise PermissionDenied(_("Your role requires two-factor sign-in: an administrator can reset it for you."))
    if not two_factor.is_verified(request):
        messages.error(request, _("You have no two-factor device to remove."))
        return redirect("two-factor")
    form = TwoFactorCodeForm(request.POST)
    if form.is_valid():
        result = two_factor.remove_own_two_factor(request=request, code=form.cleaned_data["code"])
        if result.accepted:
            messages.success(request, _("Two-factor sign-in removed: you sign in with your password alone."))
            return redirect("two-factor")
        messages.error(request, _refusal(result))
    else:
        messages.error(request, _("Enter a current code to remove two-factor sign-in."))
    return redirect("two-factor")
