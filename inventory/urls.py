from django.urls import path

from . import lookup, views

urlpatterns = [
    path("stocks/", views.stock_list, name="stock-list"),
    path("centers/", views.center_list, name="center-list"),
    path("centers/<str:code>/", views.center_detail, name="center-detail"),
    path("items/lookup/", lookup.item_lookup, name="item-lookup"),
]
