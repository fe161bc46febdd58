"""Parcels in from a carrier's systems: announce (API or CSV row), look up, cancel.

One use case each, owning its transaction. An announcement is idempotent on the carrier's
``reference``: the same announcement again gets the same answer, different details under
the same reference are a conflict (409), and a bad one is refused with every bad field
named (422) — nothing half-written.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ..domain import intake as rules
from ..domain import lockers as locker_rules
from ..domain import model as m
from ..domain.errors import (
    DomainError,
    InvalidInput,
    InvalidTransition,
    NotFound,
    ServiceUnavailable,
)
from ..domain.events import Actor, DeliveryCreated
from ..domain.routing import Point
from ..domain.status import LABELS, DeliveryStatus
from . import Services
from .routing import request_insertion, request_reoptimization
from .unit_of_work import UnitOfWork


class ReferenceClash(InvalidTransition):
    """Raise when a reference comes back with other details than it was announced with."""

    def __init__(self, d: m.Delivery) -> None:
        super().__init__(
            f"Reference {d.reference} was announced with other details (parcel "
            f"{d.tracking_number}). Use a new reference, or cancel that parcel first."
        )
        self.tracking_number = d.tracking_number


@dataclass(frozen=True)
class Announced:
    """The answer to an announcement: the parcel's number, its public link and status."""

    tracking_number: str
    tracking_url: str
    status: str
    replayed: bool = False  # the same announcement was already taken: nothing new


@dataclass(frozen=True)
class ProofPhotoRef:
    """One proof photo, fetched with the same API key from ``path``."""

    id: int
    taken_at: datetime | None
    path: str


@dataclass(frozen=True)
class DeliveryInfo:
    """What a carrier's system may read back about one of its parcels."""

    tracking_number: str
    reference: str | None
    status: str
    status_label: str
    tracking_url: str
    window_start: datetime | None
    window_end: datetime | None
    eta_expected: datetime | None
    eta_earliest: datetime | None
    eta_latest: datetime | None
    attempts: int
    updated_at: datetime | None
    proof_photos: list[ProofPhotoRef] = field(default_factory=list)


def announce_delivery(services: Services, body: Any) -> Announced:
    """Take one parcel announced by a carrier (the API's body, or a CSV row turned into one)."""
    now = services.clock.now()
    request = rules.parse_delivery(body, now)
    phone, errors = _phone(services, request)
    fingerprint = request.fingerprint()
    with services.uow() as uow:
        existing = uow.repo.delivery_by_reference(request.reference)
        if existing is not None:
            return _replay(services, existing, fingerprint)
        d = _new_delivery(services, uow, request, phone, errors, now)
        d.intake_fingerprint = fingerprint
        d.record(
            DeliveryCreated(occurred_at=now, actor=Actor.SYSTEM, tracking_number=d.tracking_number)
        )
        if not uow.repo.add_announced([d]):
            # The same reference was taken by a concurrent request: answer as it was.
            uow.rollback()
            winner = uow.repo.delivery_by_reference(request.reference)
            assert winner is not None
            return _replay(services, winner, fingerprint)
        answer = _answer(services, d)
        uow.commit()
    # A parcel announced after its day was planned goes onto a route still at the depot.
    request_insertion(services, d.id)  # type: ignore[arg-type]
    return answer


def _phone(services: Services, request: rules.DeliveryRequest) -> tuple[str, dict[str, str]]:
    """Return the recipient's number in E.164, and the field's error when it is none."""
    try:
        return services.phones.normalise(request.phone), {}
    except InvalidInput as error:
        return "", {"recipient.phone": error.message}


def _replay(services: Services, d: m.Delivery, fingerprint: str) -> Announced:
    if d.intake_fingerprint != fingerprint:
        raise ReferenceClash(d)
    return Announced(
        tracking_number=d.tracking_number,
        tracking_url=services.tracking_url(d.tracking_token),
        status=str(d.status),
        replayed=True,
    )


def _answer(services: Services, d: m.Delivery) -> Announced:
    return Announced(
        tracking_number=d.tracking_number,
        tracking_url=services.tracking_url(d.tracking_token),
        status=str(d.status),
    )


def _new_delivery(
    services: Services,
    uow: UnitOfWork,
    r: rules.DeliveryRequest,
    phone: str,
    errors: dict[str, str],
    now: datetime,
    depots: dict[str, m.Depot | None] | None = None,
) -> m.Delivery:
    """Build the parcel, checking what needs the database; raise FieldErrors with it all.

    ``depots`` caches the depots by code over a batch (a query a row cost a third of it).
    """
    depots = {} if depots is None else depots
    if r.depot not in depots:
        depots[r.depot] = uow.repo.depot_by_code(r.depot)
    depot = depots[r.depot]
    if depot is None or depot.id is None:
        errors["depot"] = f"no depot has the code {r.depot!r}"
    point = Point(r.lat, r.lng) if r.lat is not None and r.lng is not None else None
    if point is None and not errors:
        point = _locate(services, r, errors)
    start, end, slot_id = r.window_start, r.window_end, None
    slot = None
    if r.slot_id is not None and depot is not None:
        slot = uow.repo.get(m.DeliverySlot, r.slot_id)
        if slot is None or slot.depot_id != depot.id:
            errors["slot"] = f"depot {depot.code} has no slot {r.slot_id}"
        elif slot.ends_at <= now:
            errors["slot"] = "is over"
        else:
            start, end, slot_id = slot.starts_at, slot.ends_at, slot.id
    locker_id = None
    if r.locker is not None and depot is not None:
        locker = uow.repo.locker_by_code(r.locker)
        size = m.ParcelSize(r.parcel_size)
        if locker is None or locker.depot_id != depot.id or not locker.active:
            errors["locker"] = f"depot {depot.code} has no open locker {r.locker!r}"
        elif not locker_rules.can_ever_take(locker, size):
            errors["locker"] = f"{locker.name} has no compartment for size {size}"
        else:
            locker_id = locker.id
    # The slot's place is claimed last, when nothing else can refuse the parcel any more.
    if not errors and slot is not None and uow.repo.claim_slot_place(slot_id) is None:  # type: ignore[arg-type]
        errors["slot"] = "is full"
    if errors or depot is None or start is None or end is None or point is None:
        raise rules.FieldErrors(errors or {"window": "is required"})
    tz = ZoneInfo(depot.timezone)
    return m.Delivery(
        tracking_number=m.new_tracking_number(),
        tracking_token=m.new_tracking_token(),
        recipient_name=r.recipient_name,
        phone=phone,
        email=r.email,
        address_line=r.address_line,
        postcode=r.postcode,
        city=r.city,
        lat=point.lat,  # type: ignore[union-attr]
        lng=point.lng,  # type: ignore[union-attr]
        depot_id=depot.id,  # type: ignore[arg-type]
        created_at=now,
        service_date=start.astimezone(tz).date(),
        window_start=start,
        window_end=end,
        slot_id=slot_id,
        option=m.DeliveryOption(r.option),
        locker_id=locker_id,
        safe_place=r.safe_place,
        instructions=r.instructions,
        parcel_size=m.ParcelSize(r.parcel_size),
        weight_kg=r.weight_kg if r.weight_kg is not None else 1.0,
        reference=r.reference,
        updated_at=now,
    )


def _locate(services: Services, r: rules.DeliveryRequest, errors: dict[str, str]) -> Point | None:
    """Find the address with the geocoder, or say in ``errors`` why it cannot be placed."""
    if services.geocoder is None:
        errors["address.lat"] = "is required with address.lng (no geocoder is configured)"
        return None
    try:
        found = services.geocoder.locate(r.address_line, r.postcode, r.city, r.country)
    except ServiceUnavailable:
        # Not the carrier's fault, and nothing is stored: the same request later will do.
        raise ServiceUnavailable("geocoder", "cannot place addresses right now") from None
    if found is None:
        errors["address"] = "could not be found on the map: check it, or send lat and lng"
    return found


def delivery_info(services: Services, tracking_number: str) -> DeliveryInfo:
    """Return what the carrier may read of one parcel (status, window, ETA, proof photos)."""
    with services.uow() as uow:
        d = _find(uow, tracking_number)
        return _info(services, uow, d)


def _find(uow: UnitOfWork, tracking_number: str) -> m.Delivery:
    d = uow.repo.delivery_by_tracking_number(tracking_number.strip()[:32])
    if d is None or d.id is None:
        raise NotFound(f"No parcel has the tracking number {tracking_number!r}.")
    return d


def _info(services: Services, uow: UnitOfWork, d: m.Delivery) -> DeliveryInfo:
    stop = uow.repo.get(m.Stop, d.stop_id) if d.stop_id else None
    live = stop is not None and stop.is_open
    photos = [
        ProofPhotoRef(
            id=p.id,  # type: ignore[arg-type]
            taken_at=p.taken_at,
            path=f"/api/v1/deliveries/{d.tracking_number}/photos/{p.id}",
        )
        for p in uow.repo.proof_photos_of(d.id)  # type: ignore[arg-type]
    ]
    return DeliveryInfo(
        tracking_number=d.tracking_number,
        reference=d.reference,
        status=str(d.status),
        status_label=LABELS[d.status],
        tracking_url=services.tracking_url(d.tracking_token),
        window_start=d.window_start,
        window_end=d.window_end,
        eta_expected=(stop.expected_arrival or stop.planned_arrival) if live and stop else None,
        eta_earliest=stop.eta_earliest if live and stop else None,
        eta_latest=stop.eta_latest if live and stop else None,
        attempts=d.attempts,
        updated_at=d.updated_at,
        proof_photos=photos,
    )


def proof_photo(services: Services, tracking_number: str, photo_id: int) -> bytes:
    """Return the stored JPEG of one of the parcel's proof photos."""
    with services.uow() as uow:
        d = _find(uow, tracking_number)
        photo = uow.repo.get(m.ProofPhoto, photo_id) if 0 < photo_id < 2**31 else None
        if photo is None or photo.delivery_id != d.id:
            raise NotFound(f"Parcel {d.tracking_number} has no photo {photo_id}.")
        key = photo.storage_key
    try:
        return services.photos.get(key)
    except KeyError:
        raise NotFound(f"Photo {photo_id} is no longer stored.") from None


CANCELLABLE = (DeliveryStatus.CREATED, DeliveryStatus.SCHEDULED, DeliveryStatus.RESCHEDULED)


def cancel_delivery(
    services: Services,
    tracking_number: str,
    reason: str = "",
    *,
    actor: Actor = Actor.SYSTEM,
    actor_id: str | None = "integration-api",
) -> DeliveryInfo:
    """Cancel a parcel not yet out for delivery; its place on a planned route is freed.

    Cancelling twice is harmless; a parcel already with the driver (or done) is a 409.
    ``actor`` and ``actor_id`` say who cancelled (the carrier's API by default, or support).
    """
    now = services.clock.now()
    route_id = None
    with services.uow() as uow:
        d = _find(uow, tracking_number)
        if d.status is not DeliveryStatus.CANCELLED:
            if d.status not in CANCELLABLE:
                raise InvalidTransition(
                    f"Parcel {d.tracking_number} is '{LABELS[d.status].lower()}': it can no "
                    "longer be cancelled."
                )
            d.transition_to(
                DeliveryStatus.CANCELLED,
                at=now,
                actor=actor,
                actor_id=actor_id,
                reason=reason or "cancelled by the carrier",
            )
            if d.slot_id is not None:
                uow.repo.release_slot_place(d.slot_id)
            route_id = _leave_stop(uow, d)
        info = _info(services, uow, d)
        uow.commit()
    if route_id is not None:
        request_reoptimization(services, route_id, f"parcel {tracking_number} cancelled")
    return info


def _leave_stop(uow: UnitOfWork, d: m.Delivery) -> int | None:
    """Take ``d`` off its open stop (an empty stop goes); return the route to re-plan."""
    stop = uow.repo.get(m.Stop, d.stop_id) if d.stop_id else None
    route = uow.repo.get(m.Route, stop.route_id) if stop and stop.route_id else None
    if stop is None or route is None or not stop.is_open:
        return None
    others = [p for p in uow.repo.deliveries_at_stop(stop.id) if p.id != d.id]  # type: ignore[arg-type]
    d.stop_id = None
    if others:
        stop.resize(len(others))
    else:
        route.stops.remove(stop)
    return route.id


# ---------------------------------------------------------------- CSV files


@dataclass(frozen=True)
class RejectedRow:
    """A CSV row that was not imported: its line, its reference, and why."""

    line: int
    reference: str | None
    error: str
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportReport:
    """What became of every row of a CSV file."""

    accepted: int
    replayed: int  # announced before under the same reference with the same details
    rejected: list[RejectedRow]


def import_csv(services: Services, lines: Iterable[str], depot: str | None = None) -> ImportReport:
    """Announce every row of a CSV file; each row is taken whole or not at all.

    The header is checked first: a file missing a required column imports nothing. A bad
    row is reported with its line number and every bad field, and never stops the rows
    after it. Importing the same file again takes nothing twice (references). Rows go in
    by batches of IMPORT_BATCH in one transaction each (a row a transaction made 10,000
    rows take 47 s on PostgreSQL); a batch that meets a concurrent announcement of one of
    its references is taken again row by row.
    """
    reader = csv.DictReader(lines)
    header = reader.fieldnames or []
    missing = rules.missing_columns(list(header))
    if missing or (depot is None and "depot" not in {h.strip().lower() for h in header}):
        needed = missing + ([] if depot or "depot" in header else ["depot (or --depot)"])
        raise InvalidInput("The CSV header lacks: " + ", ".join(needed) + ".")
    tally = _Tally()
    batch: list[tuple[int, dict[str, Any]]] = []
    line = reader.line_num
    for row in reader:
        body = rules.row_body(row, depot)
        if None in row:
            tally.reject(line + 1, body, InvalidInput("has more cells than the header has columns"))
        else:
            batch.append((line + 1, body))
        if len(batch) >= IMPORT_BATCH:
            _import_batch(services, batch, tally)
            batch = []
        line = reader.line_num
    if batch:
        _import_batch(services, batch, tally)
    return ImportReport(accepted=tally.accepted, replayed=tally.replayed, rejected=tally.rejected)


IMPORT_BATCH = 500


@dataclass
class _Tally:
    accepted: int = 0
    replayed: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)

    def reject(self, line: int, body: Mapping[str, Any], error: DomainError) -> None:
        fields = error.errors if isinstance(error, rules.FieldErrors) else {}
        reference = body.get("reference")
        self.rejected.append(
            RejectedRow(
                line, reference if isinstance(reference, str) else None, error.message, fields
            )
        )


def _import_batch(
    services: Services, batch: list[tuple[int, dict[str, Any]]], tally: _Tally
) -> None:
    """Announce a batch of rows in one transaction (row by row if a reference races)."""
    now = services.clock.now()
    parsed: list[tuple[int, dict[str, Any], rules.DeliveryRequest, str, dict[str, str]]] = []
    for line, body in batch:
        try:
            request = rules.parse_delivery(body, now)
        except DomainError as error:
            tally.reject(line, body, error)
            continue
        parsed.append((line, body, request, *_phone(services, request)))
    outcome = _Tally()
    with services.uow() as uow:
        refs = [request.reference for _, _, request, _, _ in parsed]
        known = {d.reference: d for d in uow.repo.deliveries_by_references(refs)}
        new: list[m.Delivery] = []
        depots: dict[str, m.Depot | None] = {}
        for line, body, request, phone, errors in parsed:
            fingerprint = request.fingerprint()
            try:
                prior = known.get(request.reference)
                if prior is not None:
                    _replay(services, prior, fingerprint)
                    outcome.replayed += 1
                    continue
                d = _new_delivery(services, uow, request, phone, errors, now, depots)
            except DomainError as error:
                outcome.reject(line, body, error)
                continue
            d.intake_fingerprint = fingerprint
            d.record(DeliveryCreated(occurred_at=now, tracking_number=d.tracking_number))
            known[request.reference] = d
            new.append(d)
        if new and not uow.repo.add_announced(new):
            uow.rollback()
            raced = True
        else:
            uow.commit()
            raced = False
    if raced:
        for line, body, *_ in parsed:
            try:
                answer = announce_delivery(services, body)
            except DomainError as error:
                tally.reject(line, body, error)
            else:
                tally.replayed += answer.replayed
                tally.accepted += not answer.replayed
        return
    # No insertion a row: thousands of what-ifs would queue behind each other. A file
    # imported after its day was planned is followed by `flask plan` (docs: the CSV import).
    tally.accepted += len(new)
    tally.replayed += outcome.replayed
    tally.rejected.extend(outcome.rejected)
