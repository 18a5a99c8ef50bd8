from django.urls import path

from . import search, views

urlpatterns = [
    path("", views.home, name="home"),
    path("search/", search.search, name="search"),
    path("stocks/<int:pk>/", views.stock_detail, name="stock-detail"),
    path("stocks/<int:pk>/adjust/", views.stock_adjust, name="stock-adjust"),
    path("stocks/<int:pk>/count/", views.stock_count, name="stock-count"),
    path("stocks/<int:pk>/settings/", views.stock_settings, name="stock-settings"),
]
