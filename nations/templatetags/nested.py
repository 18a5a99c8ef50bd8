"""Template tags that render an object shown inside another for the viewer (``nations.access.nested``).

    {% load nested %}
    {% nested m "request" "request-detail-page" "reference" rows=ledger as req %}
    {% if req.hidden %}{{ req }}{% else %}{{ m.reason }}{% endif %} ... {{ req.html }}   (a link when visible)
    {% audit_subject e "coordination.supplyrequest" "request-detail-page" rows=page as subject %}
    {% nested_link n.link n.LINKED_OBJECTS rows=page as link %}

``rows`` (the page's rows) lets the first call decide for the whole page at once: one query per model per page
at most, none when the objects came with their rows.  Without it each object is decided on its own.
"""

from __future__ import annotations

from django import template
from django.contrib.auth.models import AnonymousUser

from nations.access.nested import (
    ABSENT,
    AuditSubject,
    Disclosure,
    Shown,
    disclosure_for,
    prime_audit_subjects,
)
from nations.access.nested import (
    audit_subject as subject_of,
)

register = template.Library()


def _disclosure(context) -> Disclosure:
    request = getattr(context, "request", None) or context.get("request")
    if request is None:  # rendered for nobody: show nothing that needs a right to see
        return Disclosure(AnonymousUser())
    return disclosure_for(request)


def _first_rows(disclosure: Disclosure, rows, key: str) -> list | None:
    if rows is None or not disclosure.first_time((id(rows), key)):
        return None
    return list(rows)


@register.simple_tag(takes_context=True)
def nested(context, row, relation: str, url_name: str = "", text: str = "", rows=None) -> Shown:
    """The object `row` names through `relation`, for the viewer: linked to `url_name` and shown by its attribute
    `text` (its id when omitted) when they may see it, else its kind's neutral text."""
    if row is None or row == "":
        return ABSENT
    disclosure = _disclosure(context)
    page = _first_rows(disclosure, rows, relation)
    if page:
        disclosure.prime_related(page, relation)
    return disclosure.show_related(
        row, relation, url_name=url_name or None, text=(lambda obj: getattr(obj, text)) if text else None
    )


@register.simple_tag(takes_context=True)
def audit_subject(context, entry, *links: str, rows=None) -> AuditSubject:
    """An audit entry as the viewer reads it.  `links`: pairs of a subject's label and its page's URL name."""
    disclosure = _disclosure(context)
    page = _first_rows(disclosure, rows, "subject")
    if page:
        prime_audit_subjects(disclosure, page)
    return subject_of(disclosure, entry, links=dict(zip(links[::2], links[1::2], strict=True)))


@register.simple_tag(takes_context=True)
def nested_link(context, url: str, links, rows=None, field: str = "link") -> str:
    """A stored link, or "" when the page it opens shows an object the viewer may not see.  `links` maps the URL
    names of object pages to their model's label."""
    disclosure = _disclosure(context)
    page = _first_rows(disclosure, rows, field)
    if page:
        disclosure.prime_links((getattr(r, field) for r in page), links)
    return disclosure.link(url, links)
