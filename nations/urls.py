from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from core.web import public_page

from . import views
from .forms import LoginForm

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="registration/login.html", authentication_form=LoginForm),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # self-service password change (Django's views: the old password, the password validators, other sessions end);
    # about the signed-in user only, so no rows to restrict
    path(
        "password/",
        public_page(auth_views.PasswordChangeView.as_view(success_url=reverse_lazy("password-change-done"))),
        name="password-change",
    ),
    path("password/done/", public_page(auth_views.PasswordChangeDoneView.as_view()), name="password-change-done"),
    path("audit/", views.audit_log, name="audit-log"),
]
