"""NATO Stock Numbers: 13 digits written NNNN-NN-NNN-NNNN (supply classification, NCB code, serial)."""

import pytest
from django.core.exceptions import ValidationError

from inventory.models import Item, SupplyClass, nsn_validator

VALID_NSN = "8970-14-123-4567"

INVALID_NSNS = [
    pytest.param("8970-141-23-4567", id="wrong-grouping-3-2"),
    pytest.param("89-7014-123-4567", id="wrong-grouping-2-4"),
    pytest.param("8970141234567", id="no-hyphens"),
    pytest.param("8970/14/123/4567", id="slashes"),
    pytest.param("8970-14-123-456", id="12-digits"),
    pytest.param("897-14-123-4567", id="12-digits-short-class"),
    pytest.param("8970-14-123-45678", id="14-digits"),
    pytest.param("89701-14-123-4567", id="14-digits-long-class"),
    pytest.param("897A-14-123-4567", id="letter"),
    pytest.param("ABCD-EF-GHI-JKLM", id="all-letters"),
    pytest.param("8970 14 123 4567", id="spaces-for-hyphens"),
    pytest.param(" 8970-14-123-4567", id="leading-space"),
    pytest.param("8970-14-123-4567 ", id="trailing-space"),
    pytest.param("8970-14-123-4567\n", id="trailing-newline"),
    pytest.param("\n8970-14-123-4567", id="leading-newline"),
    pytest.param("８９７０-14-123-4567", id="full-width-digits"),
    pytest.param("", id="empty"),
]


def test_validator_accepts_a_well_formed_nsn():
    nsn_validator(VALID_NSN)  # raises on failure


@pytest.mark.parametrize("nsn", INVALID_NSNS)
def test_validator_rejects_malformed_nsn(nsn):
    with pytest.raises(ValidationError):
        nsn_validator(nsn)


def _item(nsn: str) -> Item:
    return Item(nsn=nsn, name="Meal, ready-to-eat", supply_class=SupplyClass.I, unit_of_issue="CS")


@pytest.mark.django_db
def test_item_full_clean_accepts_a_well_formed_nsn():
    _item(VALID_NSN).full_clean()


@pytest.mark.django_db
@pytest.mark.parametrize("nsn", INVALID_NSNS)
def test_item_full_clean_rejects_malformed_nsn(nsn):
    with pytest.raises(ValidationError) as excinfo:
        _item(nsn).full_clean()
    assert set(excinfo.value.message_dict) == {"nsn"}


@pytest.mark.django_db
def test_item_full_clean_rejects_an_nsn_already_in_the_catalog():
    _item(VALID_NSN).save()
    with pytest.raises(ValidationError) as excinfo:
        _item(VALID_NSN).full_clean()
    assert "nsn" in excinfo.value.message_dict


def test_nsn_parts():
    item = _item(VALID_NSN)
    assert item.supply_classification == "8970"
    assert item.ncb_code == "14"


@pytest.mark.parametrize(
    "nsn,classification,ncb",
    [("6505-01-234-5678", "6505", "01"), ("1005-12-000-0001", "1005", "12"), ("9130-99-765-4321", "9130", "99")],
)
def test_nsn_parts_of_other_bureaus(nsn, classification, ncb):
    item = _item(nsn)
    assert (item.supply_classification, item.ncb_code) == (classification, ncb)


# --- typed as people copy them: digits without dashes -------------------------------------------------------------


@pytest.mark.parametrize(
    "typed,written",
    [
        ("8970141234567", "8970-14-123-4567"),
        ("8970 14 123 4567", "8970-14-123-4567"),
        ("8970-14-123-4567", "8970-14-123-4567"),
        ("897014", "8970-14"),  # the beginning of one: a prefix to search by
        ("89701", "8970-1"),
        ("8970", "8970"),
        ("ration", "ration"),  # not digits: left alone
        ("89701412345678", "89701412345678"),  # 14 digits: not an NSN
        ("８９７０", "８９７０"),  # full-width digits are not an NSN's
    ],
)
def test_digits_are_written_as_an_nsn(typed, written):
    from core.filters import dashed_nsn

    assert dashed_nsn(typed) == written


@pytest.mark.django_db
def test_the_item_search_finds_an_nsn_typed_without_dashes():
    from core.filters import item_search

    item = Item.objects.create(nsn=VALID_NSN, name="Ration pack", supply_class=SupplyClass.I, unit_of_issue="CS")
    Item.objects.create(nsn="8970-15-000-0001", name="Other", supply_class=SupplyClass.I, unit_of_issue="CS")

    assert list(item_search(Item.objects.all(), "8970141234567")) == [item]
    assert list(item_search(Item.objects.all(), "897014")) == [item]
