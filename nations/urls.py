from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from core.web import public_page

from . import activity_views, two_factor_views, views

urlpatterns = [
    path("login/", views.sign_in, name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # self-service password change (Django's views: the old password, the password validators, other sessions end);
    # about the signed-in user only, so no rows to restrict
    path(
        "password/",
        public_page(auth_views.PasswordChangeView.as_view(success_url=reverse_lazy("password-change-done"))),
        name="password-change",
    ),
    path("password/done/", public_page(auth_views.PasswordChangeDoneView.as_view()), name="password-change-done"),
    # two-factor sign-in (nations/two_factor.py): the signed-in user's own devices only
    path("two-factor/", two_factor_views.account, name="two-factor"),
    path("two-factor/verify/", two_factor_views.verify, name="two-factor-verify"),
    path("two-factor/enrol/", two_factor_views.enrol, name="two-factor-enrol"),
    path("two-factor/backup-codes/", two_factor_views.renew_backup_codes, name="two-factor-backup-codes"),
    path("two-factor/remove/", two_factor_views.remove, name="two-factor-remove"),
    path("audit/", views.audit_log, name="audit-log"),
    # nations (reference data) and their force activity designator, set by the alliance coordinators
    path("nations/", activity_views.nation_list, name="nation-list-page"),
    path(
        "nations/<str:code>/activity-designator/",
        activity_views.nation_activity_designator,
        name="nation-activity-designator",
    ),
]
