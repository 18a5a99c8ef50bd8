from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from coordination.models import SupplyRequest
from inventory.models import Stock

from . import access


@login_required
def home(request):
    """Who you are, what roles you hold, and a count of what you can see."""
    user = request.user
    return render(request, "nations/home.html", {
        "roles": access.roles_of(user),
        "visible_stocks": Stock.objects.visible_to(user).count(),
        "below_safety": Stock.objects.visible_to(user).below_safety().count(),
        "visible_requests": SupplyRequest.objects.visible_to(user).count(),
    })
