"""`GET /api/v1/discrepancies/?request=REQ-000123`: a national system finds the discrepancies of one of its requests
(the README's worked example syncs this way); a reference of a request the caller may not see finds nothing, even
when the caller sees the discrepancy's stock."""

from coordination import services
from coordination.models import RequestStatus
from tests.web.conftest import make_request

from .conftest import session_client


def _ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def _short_receipt(world):
    request = make_request(world, RequestStatus.DISPATCHED, quantity=7)
    services.receive_request(request=request, actor=world.users["nat_f_operator"], quantity=4, comment="Short")
    return request


def test_the_requesting_nation_finds_the_discrepancy_of_its_request_by_reference(world):
    request = _short_receipt(world)
    other = _short_receipt(world)
    client = session_client(world.users["fra_logistics"])
    [found] = _ids(client.get("/api/v1/discrepancies/", {"request": request.reference}))
    assert found == request.discrepancies.get().pk
    assert found != other.discrepancies.get().pk
    assert _ids(client.get("/api/v1/discrepancies/", {"request": request.reference.lower()})) == [found]


def test_a_reference_the_caller_may_not_see_finds_nothing(world):
    request = _short_receipt(world)
    # ITA sees neither the request nor FRA's stock; an unknown reference is the same empty answer
    client = session_client(world.users["ita_logistics"])
    assert _ids(client.get("/api/v1/discrepancies/", {"request": request.reference})) == []
    assert _ids(client.get("/api/v1/discrepancies/", {"request": "REQ-999999"})) == []
