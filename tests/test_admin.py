"""Every model of the portal has an admin page, and the administrator can open each list."""

import pytest
from django.apps import apps
from django.contrib import admin

from tests.factories import CenterFactory, StockFactory, stock_with

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


@pytest.mark.django_db
def test_a_stock_with_movements_keeps_its_center_in_the_admin(admin_client):
    held = stock_with(10)
    original_center = held.center_id
    elsewhere = CenterFactory()
    url = f"/admin/inventory/stock/{held.pk}/change/"
    form = {
        "nation": held.nation_id,
        "center": elsewhere.pk,
        "item": held.item_id,
        "safety_level": 3,
        "daily_consumption": "1.00",
    }
    response = admin_client.post(url, form)
    assert response.status_code == 302  # saved: the other fields, not the center
    held.refresh_from_db()
    assert (held.center_id, held.safety_level) == (original_center, 3)
    # a stock without movements may still be corrected
    bare = StockFactory()
    form.update(nation=bare.nation_id, item=bare.item_id)
    assert admin_client.post(f"/admin/inventory/stock/{bare.pk}/change/", form).status_code == 302
    bare.refresh_from_db()
    assert bare.center_id == elsewhere.pk
