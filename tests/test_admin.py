"""Every model of the portal has an admin page, and the administrator can open each list."""

import pytest
from django.apps import apps
from django.contrib import admin

PORTAL_APPS = ("nations", "inventory", "coordination")
# guardian's per-object permission rows are managed from the Nation and LogisticsCenter pages ("Object permissions")
MANAGED_ELSEWHERE = {
    "NationGroupObjectPermission",
    "NationUserObjectPermission",
    "CenterGroupObjectPermission",
    "CenterUserObjectPermission",
}


def portal_models():
    return [
        m
        for label in PORTAL_APPS
        for m in apps.get_app_config(label).get_models()
        if m.__name__ not in MANAGED_ELSEWHERE and m.__name__ != "RequestEvent"
    ]  # events: inline on requests


@pytest.mark.parametrize("model", portal_models(), ids=lambda m: m.__name__)
def test_every_model_has_an_admin(model):
    assert admin.site.is_registered(model)


@pytest.mark.django_db
@pytest.mark.parametrize("model", portal_models(), ids=lambda m: m.__name__)
def test_the_administrator_opens_every_list(admin_client, model):
    url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
    assert admin_client.get(url).status_code == 200
