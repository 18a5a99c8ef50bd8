"""The nations page: every nation with its force activity designator, which alliance coordinators set there
(``nations.activity``; the API does the same with ``PATCH /api/v1/nations/{code}/``)."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from core.web import RestrictedListView, finish, public_page, render_list, service_action

from . import access, activity
from .models import ActivityDesignator, Nation


class ActivityDesignatorForm(forms.Form):
    activity_designator = forms.TypedChoiceField(
        label=gettext_lazy("Force activity designator"), choices=ActivityDesignator.choices, coerce=int
    )


class NationListView(RestrictedListView):
    """Every nation (reference data) with its force activity designator; for coordinators, a form per nation."""

    public = True
    queryset = Nation.objects.all()
    ordering = ("code",)
    paginate_by = 100
    template_name = "nations/nation_list.html"

    def get_context_data(self, **extra):
        return super().get_context_data(
            can_set=access.can(self.request.user, "nation.activity_designator", None),
            designators=ActivityDesignator.choices,
            **extra,
        )


nation_list = NationListView.as_view()


@public_page  # a nation is reference data: every signed-in user sees it; only coordinators change it
@login_required
@require_POST
def nation_activity_designator(request, code):
    """Set one nation's force activity designator (coordinators; 403 for anyone else, 400 for a value not I-V)."""
    nation = get_object_or_404(Nation, code=code)
    form = ActivityDesignatorForm(request.POST)
    with service_action(request) as outcome:
        access.require(request.user, "nation.activity_designator", nation)  # 403 before any 400 about the form
        if not form.is_valid():
            raise ValidationError(form.errors.as_data())
        nation = activity.set_activity_designator(
            actor=request.user, nation=nation, activity_designator=form.cleaned_data["activity_designator"]
        )
    success = _("%(nation)s: force activity designator %(fad)s, for requisitions and requests raised from now on.") % {
        "nation": nation.code,
        "fad": nation.get_activity_designator_display(),
    }
    return finish(
        request,
        outcome,
        render=lambda fragment: render_list(NationListView, request),
        redirect_to=reverse("nation-list-page"),
        success=success,
    )
