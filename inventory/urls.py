from django.urls import path

from . import views

urlpatterns = [
    path("stocks/", views.stock_list, name="stock-list"),
]
