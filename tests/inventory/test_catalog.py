"""The catalog as part of the API (issue 13): alliance coordinators add and correct items, everyone reads them, and
``manage.py import_catalog`` loads many at once from CSV or JSON, all or nothing."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from inventory.models import Item
from tests.api.conftest import assert_problem, build_scenario, token_client
from tests.scenario import session_client

ITEMS = "/api/v1/items/"
NEW = {"nsn": "6505-12-345-6789", "name": "Bandage, gauze", "supply_class": "VIII", "unit_of_issue": "BX"}


@pytest.fixture
def world(db):
    return build_scenario()


def test_a_coordinator_adds_an_item_and_is_told_where_it_is(world):
    client = session_client(world.users["coordinator"])

    response = client.post(ITEMS, NEW, format="json")

    assert response.status_code == 201, response.content
    assert response["Location"] == f"http://testserver{ITEMS}{NEW['nsn']}/"
    assert Item.objects.filter(**NEW).exists()
    assert client.get(response["Location"]).json()["name"] == "Bandage, gauze"


@pytest.mark.parametrize("user", ["fra_logistics", "fra_liaison", "mlc_a_operator", "fra_system"])
def test_nobody_else_adds_or_changes_items(world, user):
    client = token_client(world.users[user]) if user.endswith("system") else session_client(world.users[user])
    fuel = world.fuel.nsn

    assert_problem(client.post(ITEMS, NEW, format="json"), 403)
    assert_problem(client.post(ITEMS, {"nsn": "bad"}, format="json"), 403)  # refused before the body is read
    assert_problem(client.patch(f"{ITEMS}{fuel}/", {"name": "X"}, format="json", HTTP_IF_MATCH="*"), 403)
    assert not Item.objects.filter(nsn=NEW["nsn"]).exists()
    assert Item.objects.get(nsn=fuel).name != "X"


@pytest.mark.parametrize(
    "body,field",
    [
        ({**NEW, "nsn": "6505123456789"}, "nsn"),  # without its dashes
        ({**NEW, "supply_class": "XI"}, "supply_class"),
        ({**NEW, "unit_of_issue": "PALLET"}, "unit_of_issue"),
        ({**NEW, "name": ""}, "name"),
    ],
)
def test_a_bad_item_is_400_naming_the_field(world, body, field):
    response = session_client(world.users["coordinator"]).post(ITEMS, body, format="json")
    assert field in {e["field"] for e in assert_problem(response, 400, "invalid")["errors"]}
    assert not Item.objects.filter(name="Bandage, gauze").exists()


def test_an_nsn_already_in_the_catalog_is_400(world):
    body = {**NEW, "nsn": world.fuel.nsn}
    response = session_client(world.users["coordinator"]).post(ITEMS, body, format="json")
    [error] = assert_problem(response, 400, "invalid")["errors"]
    assert error["field"] == "nsn" and "already in the catalog" in error["message"]


def test_a_coordinator_corrects_an_item_but_never_its_nsn(world):
    client = session_client(world.users["coordinator"])
    url = f"{ITEMS}{world.fuel.nsn}/"
    etag = client.get(url)["ETag"]

    changed = client.patch(url, {"name": "Fuel, diesel, F-54", "nsn": "9999-99-999-9999"}, format="json",
                           HTTP_IF_MATCH=etag)  # fmt: skip

    assert changed.status_code == 200, changed.content
    assert changed.json()["nsn"] == world.fuel.nsn  # read-only: ignored
    world.fuel.refresh_from_db()
    assert world.fuel.name == "Fuel, diesel, F-54"
    assert_problem(client.patch(url, {"name": "again"}, format="json", HTTP_IF_MATCH=etag), 412)


# --- manage.py import_catalog --------------------------------------------------------------------------------------


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_import_catalog_loads_a_csv_and_says_what_it_did(db, tmp_path, capsys):
    path = write(
        tmp_path,
        "items.csv",
        "\ufeffnsn,name,supply_class,unit_of_issue\n6505-12-345-6789,Bandage,VIII,BX\n5340-12-000-0001,Padlock,IV,EA\n",
    )

    call_command("import_catalog", str(path))

    assert set(Item.objects.values_list("nsn", flat=True)) >= {"6505-12-345-6789", "5340-12-000-0001"}
    assert "2 rows: 2 created, 0 updated, 0 unchanged." in capsys.readouterr().out


def test_import_catalog_is_all_or_nothing_and_names_the_rows(db, tmp_path):
    rows = [
        {"nsn": "6505-12-345-6789", "name": "Bandage", "supply_class": "VIII", "unit_of_issue": "BX"},
        {"nsn": "6505-12-345-678", "name": "Short NSN", "supply_class": "VIII", "unit_of_issue": "BX"},
        {"nsn": "6505-12-345-6789", "name": "Twice", "supply_class": "VIII", "unit_of_issue": "BX"},
    ]
    path = write(tmp_path, "items.json", json.dumps(rows))

    with pytest.raises(CommandError) as refused:
        call_command("import_catalog", str(path))

    assert "rows[1].nsn" in str(refused.value) and "rows[2].nsn" in str(refused.value)
    assert not Item.objects.filter(nsn="6505-12-345-6789").exists()


def test_import_catalog_updates_only_when_asked(db, tmp_path, capsys):
    Item.objects.create(nsn="6505-12-345-6789", name="Bandage", supply_class="VIII", unit_of_issue="BX")
    rows = [{"nsn": "6505-12-345-6789", "name": "Bandage, gauze", "supply_class": "VIII", "unit_of_issue": "BX"}]
    path = write(tmp_path, "items.json", json.dumps(rows))

    with pytest.raises(CommandError, match="--update"):
        call_command("import_catalog", str(path))
    assert Item.objects.get(nsn="6505-12-345-6789").name == "Bandage"

    call_command("import_catalog", str(path), "--update")
    assert Item.objects.get(nsn="6505-12-345-6789").name == "Bandage, gauze"
    call_command("import_catalog", str(path))  # the same figures again: nothing to do
    assert "1 unchanged" in capsys.readouterr().out.splitlines()[-1]


@pytest.mark.parametrize(
    "name,text,message",
    [
        ("items.csv", "nsn,name\n6505-12-345-6789,Bandage\n", "lacks supply_class, unit_of_issue"),
        ("items.json", '{"nsn": "6505-12-345-6789"}', "list of objects"),
        ("items.json", "[{", "not readable JSON"),
    ],
)
def test_import_catalog_refuses_a_file_it_cannot_read(db, tmp_path, name, text, message):
    with pytest.raises(CommandError, match=message):
        call_command("import_catalog", str(write(tmp_path, name, text)))
    assert not Item.objects.filter(nsn="6505-12-345-6789").exists()
