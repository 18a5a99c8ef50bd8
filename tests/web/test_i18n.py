"""English and French: the language switch, a French interface with no English left in it, dates and numbers
formatted per language, and a French catalogue that is complete and compiled."""

from __future__ import annotations

import datetime as dt
import gettext
import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone, translation

from coordination.models import (
    DiscrepancyKind,
    DiscrepancyResolution,
    EventType,
    Notification,
    Priority,
    ReconciliationRun,
    RequestStatus,
    RunStatus,
    Severity,
    ShortfallKind,
)
from inventory.models import CenterKind, CountSource, MovementKind, SupplyClass, UnitOfIssue
from nations.roles import Role

from .conftest import HTMX, count_discrepancy_on, make_request, shortfall_on

LOCALE = Path(settings.BASE_DIR) / "locale" / "fr" / "LC_MESSAGES"
FR_MONTHS = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
]


def french(client):
    response = client.post(reverse("set_language"), {"language": "fr", "next": reverse("home")})
    assert response.status_code == 302 and response["Location"] == reverse("home")
    return client


# --- the catalogue -------------------------------------------------------------------------------------------------


def po_entries() -> list[dict]:
    """The entries of django.po: msgctxt, msgid, msgid_plural, msgstr / msgstr[n], flags."""
    entries, current, field = [], None, None
    for line in (LOCALE / "django.po").read_text(encoding="utf-8").splitlines() + [""]:
        if not line.strip():
            if current and "msgid" in current:
                entries.append(current)
            current, field = None, None
            continue
        current = current or {"flags": ""}
        if line.startswith("#,"):
            current["flags"] += line
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            current[field] += eval(line)  # a continuation of the previous string
        else:
            field, value = line.split(" ", 1)
            current[field] = eval(value)
    return [e for e in entries if e["msgid"]]  # less the header


def test_every_french_message_is_translated_and_none_is_fuzzy():
    entries = po_entries()
    assert len(entries) > 300
    for entry in entries:
        assert "fuzzy" not in entry["flags"], entry["msgid"]
        strings = [v for k, v in entry.items() if k.startswith("msgstr")]
        assert strings and all(s.strip() for s in strings), entry["msgid"]
        # every placeholder of the English text is in the French one
        for placeholder in re.findall(r"%\(\w+\)s", entry["msgid"]):
            assert all(placeholder in s for s in strings), (entry["msgid"], placeholder)


SOURCE_MESSAGE = re.compile(
    r"""{%\s*translate\s+"([^"]+)"(?:\s+context\s+"([^"]+)")?"""  # templates: {% translate "..." [context "..."] %}
    r"""|\b(?:_|gettext|gettext_lazy)\(\s*"([^"\\]+)"\s*\)"""  # Python: _("...") on one line
)


def test_every_message_in_the_sources_is_in_the_french_catalogue():
    # makemessages finds more (blocktranslate, plurals, contexts in Python): this is the cheap guard that a new
    # page's plain labels were not forgotten.
    known = {(e.get("msgctxt"), e["msgid"]) for e in po_entries()}
    root = Path(settings.BASE_DIR)
    missing = set()
    for pattern in ("templates/**/*.html", "*/templates/**/*.html", "*/*.py", "*/*/*.py"):
        for path in root.glob(pattern):
            if any(part in {"tests", "bench", "migrations", ".venv", "node_modules"} for part in path.parts):
                continue
            for template_id, context, python_id in SOURCE_MESSAGE.findall(path.read_text(encoding="utf-8")):
                msgid = template_id or python_id
                if (context or None, msgid) not in known and "{" not in msgid:
                    missing.add(f"{path.relative_to(root)}: {msgid!r}")
    assert not missing, "\n".join(sorted(missing))


def test_the_committed_mo_is_compiled_from_the_po():
    # The .mo is committed (msgfmt may be missing on a newcomer's machine): it must say what the .po says.
    with open(LOCALE / "django.mo", "rb") as handle:
        catalog = gettext.GNUTranslations(handle)
    for entry in po_entries():
        key = entry["msgid"] if "msgctxt" not in entry else f"{entry['msgctxt']}\x04{entry['msgid']}"
        if "msgid_plural" in entry:
            assert catalog.ngettext(key, entry["msgid_plural"], 1) == entry["msgstr[0]"], key
            assert catalog.ngettext(key, entry["msgid_plural"], 2) == entry["msgstr[1]"], key
        else:
            assert catalog.gettext(key) == entry["msgstr"], key


@pytest.mark.parametrize(
    "choices",
    [
        RequestStatus,
        Priority,
        Severity,
        ShortfallKind,
        DiscrepancyKind,
        DiscrepancyResolution,
        RunStatus,
        EventType,
        SupplyClass,
        UnitOfIssue,
        CenterKind,
        MovementKind,
        CountSource,
        Role,
    ],
)
def test_every_choice_label_shown_on_pages_has_a_french_translation(choices):
    french_of = {(e.get("msgctxt"), e["msgid"]): e.get("msgstr") for e in po_entries()}
    contexts = {(Priority.PRIORITY.value, "priority level")}  # a label that shares its English with a field name
    for choice in choices:
        context = next((c for v, c in contexts if v == choice.value and choices is Priority), None)
        with translation.override("en"):
            english = str(choice.label)
        assert (context, english) in french_of, english
        with translation.override("fr"):
            assert str(choice.label) == french_of[(context, english)]  # lazy: the label follows the language


def test_french_statuses_and_priorities_read_as_french():
    with translation.override("fr"):
        assert RequestStatus.SUBMITTED.label == "Soumise"
        assert Priority.PRIORITY.label == "Prioritaire"  # the level, not the field's name ("Priorité")
        assert Role.LIAISON.label == "Officier de liaison"
        assert ShortfallKind.LOW_DAYS_OF_SUPPLY.label == "Autonomie insuffisante"


# --- the language switch -------------------------------------------------------------------------------------------


def test_the_language_switch_gives_french_pages_and_back(world, browser):
    client = browser("fra_logistics")
    html = client.get(reverse("home")).content.decode()
    assert '<html lang="en">' in html and ">Dashboard<" in html
    html = french(client).get(reverse("home")).content.decode()
    assert '<html lang="fr">' in html
    for nav in ("Tableau de bord", "Stocks", "Centres", "Demandes", "Pénuries", "Écarts", "Rapprochement"):
        assert f">{nav}</a>" in html, nav
    assert "Se déconnecter" in html and '<option value="fr" selected>Français</option>' in html
    # the choice sticks for the session, on every page
    assert '<html lang="fr">' in client.get(reverse("stock-list")).content.decode()
    client.post(reverse("set_language"), {"language": "en", "next": reverse("home")})
    assert ">Dashboard<" in client.get(reverse("home")).content.decode()


def test_the_login_page_follows_the_browsers_language(world, browser):
    html = browser("anonymous").get(reverse("login"), headers={"Accept-Language": "fr-FR,fr;q=0.9"}).content.decode()
    assert '<html lang="fr">' in html and "Se connecter" in html and "Mot de passe" in html


def test_a_french_request_page_shows_french_statuses_dates_and_actions(world, browser):
    required_by = timezone.localdate() + dt.timedelta(days=40)
    request = make_request(world, required_by=required_by)
    client = french(browser("deu_liaison"))
    html = client.get(reverse("request-detail-page", args=[request.pk])).content.decode()
    assert 'data-testid="status">Soumise<' in html
    assert f">{required_by.isoformat()}<" in html  # ISO in every language (config/formats)
    assert ">Approuver</button>" in html and ">Rejeter</button>" in html
    assert "Quantité à approuver" in html and "Motif du refus" in html
    assert "Qté demandée" in html and "Historique" in html

    english = browser("fra_logistics").get(reverse("request-detail-page", args=[request.pk])).content.decode()
    assert f">{required_by.isoformat()}<" in english and FR_MONTHS[required_by.month - 1] not in english

    listing = client.get(reverse("request-list")).content.decode()
    assert ">Soumise<" in listing and ">Routine<" in listing
    assert required_by.isoformat() in listing and f"{required_by:%d/%m/%Y}" not in listing  # ISO, not d/m/Y


def test_french_action_answers_and_refusals_are_french(world, browser):
    request = make_request(world)
    client = french(browser("deu_liaison"))
    response = client.post(reverse("request-action", args=[request.pk, "approve"]), {"quantity": "7"}, headers=HTMX)
    assert response.status_code == 200
    assert "C'est fait\u00a0: la demande est désormais approuvée." in unescape(response.content.decode())
    response = client.post(reverse("request-action", args=[request.pk, "approve"]), {"quantity": "7"}, headers=HTMX)
    assert response.status_code == 409
    assert (
        f"La demande {request.reference} est approuvée\u00a0; elle ne peut pas être approuvée."
        in response.content.decode()
    )
    response = french(browser("mlc_a_operator")).post(
        reverse("request-action", args=[request.pk, "cancel"]), headers=HTMX
    )
    assert response.status_code == 403
    assert "Vous n'êtes pas autorisé" in unescape(response.content.decode())
    response = french(browser("fra_logistics")).post(
        reverse("stock-adjust", args=[world.stocks["fra_private"].pk]), {"delta": "0", "reason": "x"}, headers=HTMX
    )
    assert response.status_code == 400
    assert "Saisissez un nombre entier non nul." in response.content.decode()


def test_numbers_take_the_languages_thousands_separator(world, browser):
    stock = world.stocks["fra_private"]
    stock.safety_level = 12500
    stock.save(update_fields=["safety_level"])
    client = browser("fra_logistics")
    assert "<dd>12,500</dd>" in client.get(reverse("stock-detail", args=[stock.pk])).content.decode()
    html = french(client).get(reverse("stock-detail", args=[stock.pk])).content.decode()
    assert "<dd>12\u00a0500</dd>" in html  # a non-breaking space, as French writes it
    # ... but never inside what machines read: URLs, form values, ids
    assert f'action="/stocks/{stock.pk}/adjust/"' in html
    assert 'name="safety_level" value="12500"' in html


# --- no English left on a French page ------------------------------------------------------------------------------


class _Text(HTMLParser):
    """The text a user reads or hears on a page: text nodes and the labelling attributes."""

    ATTRIBUTES = {"aria-label", "title", "placeholder", "hx-confirm", "alt", "value"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if name == "value" and not (tag == "input" and dict(attrs).get("type") in ("submit", "button")):
                continue  # a form value is data, not interface text (except a button's caption)
            if name in self.ATTRIBUTES and value:
                self.texts.append(value.strip())

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.texts.append(" ".join(data.split()))


def untranslated(html: str, english: set[str]) -> set[str]:
    parser = _Text()
    parser.feed(html)
    found = set()
    for text in parser.texts:
        for piece in re.split(r"\s*[·:—(),]\s*", text):
            if piece in english:
                found.add(piece)
    return found


def test_french_pages_hold_no_english_interface_text(world, browser):
    # English messages whose French differs (a few words are the same in both: Stocks, Routine, Distance ...)
    english = {
        e["msgid"]
        for e in po_entries()
        if "msgid_plural" not in e and e["msgstr"] != e["msgid"] and "%(" not in e["msgid"]
    }
    # fra_logistics reads French before the requests below are made: the notices they get (on the notification
    # list) are written in the language their reader chose, so theirs are French too.
    french(browser("fra_logistics"))
    request = make_request(world)
    make_request(world, RequestStatus.APPROVED)
    stock = world.stocks["fra_private"]
    shortfall_on(stock, severity="critical")
    count_discrepancy_on(stock, counted=45, by=world.users["mlc_a_operator"])
    ReconciliationRun.objects.create(
        status=RunStatus.SUCCEEDED,
        centers_total=3,
        centers_done=3,
        findings={"count_mismatch": 1, "below_safety": 1, "pool_items": 2},
    )
    Notification.objects.create(user=world.users["fra_logistics"], event=EventType.REQUEST_APPROVED, title="REQ")

    pages = {
        "fra_logistics": [
            reverse("home"),
            reverse("stock-list"),
            reverse("stock-detail", args=[stock.pk]),
            reverse("center-list"),
            reverse("center-detail", args=["MLC-A"]),
            reverse("request-list"),
            reverse("request-new"),
            reverse("request-detail-page", args=[request.pk]),
            reverse("shortfall-list"),
            reverse("discrepancy-list"),
            reverse("reconciliation-list"),
            reverse("notification-list"),
            reverse("request-sourcing") + "?nsn=9130-12-000-0002&quantity=5&destination_center=NAT-F",
            # the pages of #14: a request prefilled from a shortage, flags in every scope, the search
            reverse("request-new") + f"?stock={stock.pk}",
            reverse("shortfall-list") + "?scope=help",
            reverse("shortfall-list") + "?scope=all",
            reverse("search") + "?q=water",
        ],
        "deu_liaison": [
            reverse("home"),
            reverse("request-detail-page", args=[request.pk]),
            reverse("approval-queue"),
        ],
        "mlc_a_operator": [reverse("home"), reverse("stock-detail", args=[stock.pk])],
        # the log's summaries are stored in English (nations/audit.py): a role grant's names the role in English
        "coordinator": [
            reverse("reconciliation-list"),
            reverse("home"),
            reverse("audit-log") + "?kind=request.transition",
        ],
    }
    # the check finds English where there is English: the same page for FRA's other officer, who did not switch
    assert {"Dashboard", "Ledger", "Record a count"} <= untranslated(
        browser("dual_hat").get(reverse("stock-detail", args=[stock.pk])).content.decode(), english
    )
    for user, urls in pages.items():
        client = french(browser(user))
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, url
            assert untranslated(response.content.decode(), english) == set(), (user, url)
    not_found = french(browser("ita_logistics")).get(reverse("stock-detail", args=[stock.pk]))
    assert not_found.status_code == 404
    assert untranslated(not_found.content.decode(), english) == set()
    assert "Introuvable" in not_found.content.decode()


def test_stored_notifications_do_not_take_the_acting_users_language(world, browser):
    # A French liaison officer approves; FRA's logistics officers are told each in the language they chose (none
    # chosen: the portal's), whole sentences: the actor's language never decides another user's notice.
    request = make_request(world)
    client = french(browser("deu_liaison"))
    assert (
        client.post(
            reverse("request-action", args=[request.pk, "approve"]), {"quantity": "7"}, headers=HTMX
        ).status_code
        == 200
    )
    note = Notification.objects.get(user=world.users["fra_logistics"], event=EventType.REQUEST_APPROVED)
    assert note.title == f"{request.reference}: request approved"
