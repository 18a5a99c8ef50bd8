from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render

from .filters import StockFilter
from .models import Stock


@login_required
def stock_list(request):
    """The stocks the user may see, filtered with the same filterset as the API."""
    base = Stock.objects.visible_to(request.user).select_related("nation", "center", "item")
    stock_filter = StockFilter(request.GET, queryset=base)
    page = Paginator(stock_filter.qs.order_by("center__code", "item__nsn", "nation__code"), 50).get_page(
        request.GET.get("page")
    )
    return render(request, "inventory/stock_list.html", {"filter": stock_filter, "page": page})
