"""The API's JSON parser: any body it cannot read is a 400 problem (``parse_error``), never a 500.

DRF's own parser turns a ``ValueError`` (bad syntax, invalid UTF-8, NaN/Infinity, an integer of more digits than
Python converts) into ``ParseError``, but not the ``RecursionError`` that nesting deeper than the interpreter's
recursion limit raises.  Nesting is capped well below that limit too, so no later step (validation, error
rendering, the idempotency record) recurses through a structure the parser only just managed to build.
"""

from __future__ import annotations

from rest_framework import parsers
from rest_framework.exceptions import ParseError

# No payload of the API nests deeper than a few levels (a stock report: object > lines > line > value).
MAX_JSON_DEPTH = 32


def _depth_exceeds(data, limit: int) -> bool:
    """Whether `data` nests lists or objects more than `limit` deep (iterative: no recursion of our own)."""
    pending = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - nested more than {MAX_JSON_DEPTH} levels deep.") from None
        if _depth_exceeds(data, MAX_JSON_DEPTH):
            raise ParseError(f"JSON parse error - nested more than {MAX_JSON_DEPTH} levels deep.")
        return data
