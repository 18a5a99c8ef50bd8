"""Requests whose text the database could never store.

PostgreSQL text cannot hold a NUL character: a NUL that reached a query made it fail (a 500) wherever a code, an
NSN or any text from the request was looked up or saved -- in a URL, a query string, a form or a JSON body.  Such a
request is refused with 400 before any view runs (problem+json under /api/, see nations/api/handlers.py).
"""

from django.core.exceptions import BadRequest

# A NUL as it arrives: raw, percent-encoded (URLs, forms), or escaped in JSON.
ENCODED_NUL = (b"\x00", b"%00", b"\\u0000")


class RefuseNulCharacters:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            "\x00" in request.path
            or "%00" in request.META.get("QUERY_STRING", "")
            or (request.method in ("POST", "PUT", "PATCH") and any(nul in request.body for nul in ENCODED_NUL))
        ):
            raise BadRequest("NUL characters are not accepted.")
        return self.get_response(request)
