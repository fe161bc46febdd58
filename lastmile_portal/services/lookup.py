"""Support's search box: classify what was typed, normalise it, run one indexed query."""

from __future__ import annotations

from dataclasses import dataclass

from ..domain import lookup
from ..domain.errors import InvalidInput
from . import Services

PAGE_SIZE = 20
MAX_PAGE = 50  # 1,000 results: beyond that, a narrower query is the answer


@dataclass(frozen=True)
class Results:
    """One page of search results, and what the query was taken to be."""

    query: lookup.Query
    found: list[lookup.Found]
    page: int
    has_next: bool


def search(services: Services, raw: str, page: int = 1) -> Results:
    """Find deliveries by tracking number, phone, name, postcode, street or reference.

    A phone number in any format is compared in E.164 (``030 23125001``, ``+49 30 23125001``
    and ``0049 30 23125001`` find the same parcel); a reference that matches no parcel is
    looked for as a street too. Raise InvalidInput for text too short to search, a phone
    number that cannot be one, or a page out of range.
    """
    query = lookup.classify(raw)
    if query.kind is lookup.QueryKind.TOO_SHORT:
        raise InvalidInput(
            f"Type at least {lookup.MIN_TEXT} letters of a name or street, or a tracking "
            "number, phone number, postcode or reference."
        )
    if not 1 <= page <= MAX_PAGE:
        raise InvalidInput(f"Pages run from 1 to {MAX_PAGE}; narrow the search instead.")
    if query.kind is lookup.QueryKind.PHONE:
        query = lookup.Query(query.kind, services.phones.normalise(query.text))
    offset = (page - 1) * PAGE_SIZE
    with services.uow() as uow:
        found = uow.repo.search_deliveries(
            query.kind.value, query.text, limit=PAGE_SIZE + 1, offset=offset
        )
        if not found and page == 1 and query.kind is lookup.QueryKind.REFERENCE:
            # "Hauptstr.5" is one word with a digit, like a reference: try it as a street.
            query = lookup.Query(lookup.QueryKind.STREET, lookup.fold(query.text))
            found = uow.repo.search_deliveries(
                query.kind.value, query.text, limit=PAGE_SIZE + 1, offset=offset
            )
    return Results(query, found[:PAGE_SIZE], page, len(found) > PAGE_SIZE)
