"""The sign-in forms: the portal's and the admin's."""

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm
from django.core.validators import MaxLengthValidator


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
