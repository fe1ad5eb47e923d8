"""URLs of the Django test views for the session engine."""

from __future__ import annotations

from django.http import JsonResponse
from django.urls import path


def count(request):
    request.session["n"] = request.session.get("n", 0) + 1
    return JsonResponse({"n": request.session["n"]})


def bump(request, field):
    request.session[field] = request.session.get(field, 0) + 1
    return JsonResponse({field: request.session[field]})


def peek(request):
    return JsonResponse(dict(request.session.items()))


def logout(request):
    request.session.flush()
    return JsonResponse({})


urlpatterns = [
    path("count", count),
    path("bump/<str:field>", bump),
    path("peek", peek),
    path("logout", logout),
]
