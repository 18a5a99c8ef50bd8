"""The sign-in forms: the portal's and the admin's, and the two-factor code's."""

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm
from django.core.validators import MaxLengthValidator
from django.utils.translation import gettext_lazy as _


class UsernameLengthMixin:
    """The username's length enforced before authentication.

    Django's sign-in form copies the username column's length (150) into the field's ``max_length`` only after
    the field is built, so no validator checks it and any length reached the backends, django-axes' bookkeeping
    (a 255 column: a longer username was a 500) and the audit log.  A username longer than any account's is now
    a field error (the page says what it says for a wrong password) and, as ``clean`` then has no username to
    authenticate, never counts as a failed sign-in."""

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        limit = get_user_model()._meta.get_field(get_user_model().USERNAME_FIELD).max_length
        self.fields["username"].validators.append(MaxLengthValidator(limit))


class LoginForm(UsernameLengthMixin, AuthenticationForm):
    pass


class AdminLoginForm(UsernameLengthMixin, AdminAuthenticationForm):
    pass


class TwoFactorCodeForm(forms.Form):
    """The code of the second step: six digits from the authenticator app, or a backup code."""

    code = forms.CharField(
        label=_("Code"),
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True, "spellcheck": "false"}
        ),
    )
    next = forms.CharField(required=False, widget=forms.HiddenInput)
