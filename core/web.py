"""What every browser page shares: rows narrowed to the user (the base page views), and the 404/403/409 rules of
the API, applied to views.

Secure by default, as the API's base viewset: a list or detail page is a :class:`RestrictedListView` or
:class:`RestrictedDetailView` naming its ``queryset`` (or ``model``); the rows it shows come through the model's
``visible_to(user)``.  A page of reference data (centers) declares ``public = True``; a function view that reads
no restricted rows is declared with :func:`public_page`.  ``tests/test_structure.py`` fails for a page that does
neither."""

from __future__ import annotations

from contextlib import contextmanager

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views import View

from core.errors import Conflict
from core.restrict import visible_rows


def visible_or_404(queryset, **lookup):
    """The object if the user's visible queryset holds it, else 404 (existence is never leaked)."""
    obj = queryset.filter(**lookup).first()
    if obj is None:
        raise Http404
    return obj


def public_page(view):
    """Declare a function view public: it shows reference data only, so it reads no rows to restrict."""
    view.public = True
    return view


def query_without_page(request) -> str:
    """The page's query string without ``page``: the pager's links keep the filters and the sort."""
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


class RestrictedPageMixin(LoginRequiredMixin):
    """Signed-in users only; ``get_queryset`` is ``queryset`` (or ``model``'s rows) narrowed to the user, unless the
    page declares ``public = True``.  A subclass extending ``get_queryset`` calls ``super()`` first."""

    model = None
    queryset = None
    public = False

    def get_queryset(self):
        if self.queryset is not None:
            queryset = self.queryset.all()
        elif self.model is not None:
            queryset = self.model._default_manager.all()
        else:
            raise ImproperlyConfigured(f"{type(self).__name__} names neither a queryset nor a model.")
        if self.public:
            return queryset
        return visible_rows(queryset, self.request.user, view=self)


class RestrictedListView(RestrictedPageMixin, View):
    """A list page: the visible rows, filtered by ``filterset_class`` (the API's filterset), sorted, in pages.
    The template gets ``page``, ``query`` (the query string without ``page``) and ``filter`` when there is one."""

    template_name = ""
    filterset_class = None
    ordering: tuple[str, ...] = ()
    paginate_by = 50
    paginator_class = Paginator

    def get(self, request, *args, **kwargs):
        return render(request, self.template_name, self.get_context_data())

    def get_filter_data(self):
        return self.request.GET

    def sort(self, rows):
        return rows.order_by(*self.ordering) if self.ordering else rows

    def get_rows(self):
        """The visible rows, filtered (``self.filter``) and sorted: what the page lists and an export writes."""
        rows = self.get_queryset()
        self.filter = None
        if self.filterset_class is not None:
            self.filter = self.filterset_class(self.get_filter_data(), queryset=rows, request=self.request)
            rows = self.filter.qs
        return self.sort(rows)

    def paginate(self, rows):
        """The page of `rows` the query string asks for."""
        return self.paginator_class(rows, self.paginate_by).get_page(self.request.GET.get("page"))

    def get_context_data(self, **extra):
        rows = self.get_rows()
        context = {"page": self.paginate(rows), "query": query_without_page(self.request)}
        if self.filter is not None:
            context["filter"] = self.filter
        context.update(extra)
        return context


class RestrictedDetailView(RestrictedPageMixin, View):
    """A detail page: the object looked up among the visible rows (404 when the user may not see it, existence is
    never leaked), given to the template as ``context_object_name``."""

    template_name = ""
    context_object_name = "object"
    lookup_field = "pk"

    def get(self, request, *args, **kwargs):
        self.object = self.get_object()
        return render(request, self.template_name, self.get_context_data())

    def get_object(self):
        return visible_or_404(self.get_queryset(), **{self.lookup_field: self.kwargs[self.lookup_field]})

    def get_context_data(self, **extra):
        return {self.context_object_name: self.object, **extra}


def render_list(view_class, request, *args, **kwargs) -> HttpResponse:
    """A list page rendered for another view's request (a refused form post answers with the list again, whatever
    the method): the list's own GET, on this request."""
    view = view_class()
    view.setup(request, *args, **kwargs)
    return view.get(request, *args, **kwargs)


class ActionOutcome:
    """Filled by :func:`service_action`: the HTTP status to answer and the messages to show."""

    def __init__(self):
        self.status = 200
        self.errors: list[str] = []
        self.field_errors: dict[str, list[str]] = {}

    @property
    def ok(self) -> bool:
        return self.status < 400


@contextmanager
def service_action(request):
    """Run a service call; turn its refusals into the status and message the user sees.

    403 for a refused right, 409 for a wrong state or too little stock, 400 for bad input — as in the API."""
    outcome = ActionOutcome()
    try:
        yield outcome
    except PermissionDenied as exc:
        outcome.status, outcome.errors = 403, [str(exc) or _("You may not do that.")]
    except Conflict as exc:
        outcome.status, outcome.errors = 409, [exc.message]
    except ValidationError as exc:
        outcome.status = 400
        if hasattr(exc, "error_dict"):
            outcome.field_errors = {k: [m for e in v for m in e.messages] for k, v in exc.error_dict.items()}
            outcome.errors = [f"{', '.join(v)}" for v in outcome.field_errors.values()]
        else:
            outcome.errors = exc.messages
    if not request.htmx:
        for error in outcome.errors:
            messages.error(request, error)


def finish(request, outcome: ActionOutcome, *, render, redirect_to: str, success: str = "") -> HttpResponse:
    """Answer an action.  htmx: the re-rendered fragment, with the outcome's status (htmx is configured to swap
    4xx answers too).  A plain form post: back to the page on success (post/redirect/get), the page itself
    with the error and the status otherwise.  `render(fragment: bool)` renders the fragment or the page."""
    if outcome.ok and not request.htmx:
        if success:
            messages.success(request, success)
        return redirect(redirect_to)
    response = render(bool(request.htmx))
    response.status_code = outcome.status
    return response
