from django.urls import path

from . import views

urlpatterns = [
    path("stocks/", views.stock_list, name="stock-list"),
    path("centers/", views.center_list, name="center-list"),
    path("centers/<str:code>/", views.center_detail, name="center-detail"),
]
