from django.contrib import admin
from django.urls import include, path

from nations import views as nation_views

from .api_urls import api_v1, schema_urls
from .health import healthz, readyz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("i18n/setlang/", nation_views.set_language, name="set_language"),  # Django's, remembering the choice
    path("api/v1/", include(api_v1)),
    path("api/", include(schema_urls)),
    path("", include("portal.urls")),
    path("", include("nations.urls")),
    path("", include("inventory.urls")),
    path("", include("coordination.urls")),
]

# Under /api/ these answer problem+json, as the API's own errors do; elsewhere the portal's pages.
handler400 = "core.api.handlers.bad_request"
handler404 = "core.api.handlers.page_not_found"
handler500 = "core.api.handlers.server_error"
