"""Tables and the imperative mapping of domain classes onto them (the domain imports no ORM)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import registry, relationship

from ..domain import model as m
from ..domain import webhooks as wh
from ..domain.events import TimelineEntry
from ..domain.lookup import fold, fold_street
from ..domain.status import DeliveryStatus
from .crypto import FieldCipher

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
mapper_registry = registry(metadata=metadata)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Store aware datetimes as UTC and always hand back aware UTC (SQLite drops zones)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware one is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_cipher: FieldCipher | None = None


def configure_cipher(secret: str) -> None:
    """Set the key used for encrypted columns (called once by bootstrap)."""
    global _cipher
    _cipher = FieldCipher(secret)


class EncryptedString(sa.TypeDecorator[str]):
    """Keep a short secret encrypted at rest; the domain only ever sees plaintext."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: sa.Dialect) -> str | None:
        if value is None:
            return None
        if _cipher is None:
            raise RuntimeError("encryption key not configured")
        return _cipher.encrypt(value)

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> str | None:
        if value is None:
            return None
        if _cipher is None:
            raise RuntimeError("encryption key not configured")
        return _cipher.decrypt(value)


def _enum(cls: type) -> sa.Enum:
    return sa.Enum(
        cls,
        native_enum=False,
        create_constraint=False,
        length=32,
        values_callable=lambda e: [x.value for x in e],
    )


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer, primary_key=True)


def _fk(name: str, target: str, nullable: bool = False, ondelete: str | None = None) -> sa.Column:
    return sa.Column(
        name, sa.Integer, sa.ForeignKey(target, ondelete=ondelete), nullable=nullable, index=True
    )


depots = sa.Table(
    "depots",
    metadata,
    _id(),
    sa.Column("code", sa.String(32), nullable=False, unique=True),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("address", sa.String(255), nullable=False),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("lng", sa.Float, nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("opens_at", sa.String(5), nullable=False),
    sa.Column("closes_at", sa.String(5), nullable=False),
    # issue 11 (migration 0004): the depot offers vehicle-trunk delivery
    sa.Column("trunk_delivery", sa.Boolean, nullable=False, server_default=sa.false()),
)

service_areas = sa.Table(
    "service_areas",
    metadata,
    _id(),
    _fk("depot_id", "depots.id"),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("postcode_prefixes", sa.Text, nullable=False),
)

vehicle_types = sa.Table(
    "vehicle_types",
    metadata,
    _id(),
    sa.Column("code", sa.String(32), nullable=False, unique=True),
    sa.Column("kind", _enum(m.VehicleKind), nullable=False),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("capacity", sa.Integer, nullable=False),
    sa.Column("max_parcel_size", _enum(m.ParcelSize), nullable=False),
    sa.Column("speed_factor", sa.Float, nullable=False),
    sa.Column("range_km", sa.Float, nullable=False),
    sa.Column("co2_g_per_km", sa.Float, nullable=False),
    sa.Column("cost_per_km", sa.Float, nullable=False),
    sa.Column("cost_per_hour", sa.Float, nullable=False),
    sa.Column("fixed_cost", sa.Float, nullable=False),
)

vehicles = sa.Table(
    "vehicles",
    metadata,
    _id(),
    _fk("depot_id", "depots.id"),
    _fk("vehicle_type_id", "vehicle_types.id"),
    sa.Column("label", sa.String(64), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
)

drivers = sa.Table(
    "drivers",
    metadata,
    _id(),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("phone", sa.String(20), nullable=False),
    sa.Column("employment", _enum(m.Employment), nullable=False),
    sa.Column("api_token_hash", sa.String(64), nullable=False, unique=True),
    _fk("depot_id", "depots.id", nullable=True),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("last_lat", sa.Float),
    sa.Column("last_lng", sa.Float),
    sa.Column("last_position_at", UTCDateTime()),
)

driver_positions = sa.Table(
    "driver_positions",
    metadata,
    _id(),
    _fk("driver_id", "drivers.id", ondelete="CASCADE"),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("lng", sa.Float, nullable=False),
    sa.Column("recorded_at", UTCDateTime(), nullable=False),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.Column("speed", sa.Float),
    sa.Column("heading", sa.Float),
    sa.Column("accuracy", sa.Float),
    sa.Column("suspect", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_driver_positions_driver_time", "driver_id", "recorded_at"),
)

lockers = sa.Table(
    "lockers",
    metadata,
    _id(),
    sa.Column("code", sa.String(32), nullable=False, unique=True),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("kind", _enum(m.LockerKind), nullable=False),
    sa.Column("address", sa.String(255), nullable=False),
    sa.Column("postcode", sa.String(16), nullable=False),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("lng", sa.Float, nullable=False),
    _fk("depot_id", "depots.id"),
    sa.Column("opening_hours", sa.String(255), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    # issue 12 (migration 0007): the operator's API key, hashed like drivers' tokens
    sa.Column("api_key_hash", sa.String(64), unique=True),
)

locker_compartments = sa.Table(
    "locker_compartments",
    metadata,
    _id(),
    _fk("locker_id", "lockers.id", ondelete="CASCADE"),
    sa.Column("label", sa.String(16), nullable=False),
    sa.Column("size", _enum(m.ParcelSize), nullable=False),
    sa.Column("status", _enum(m.CompartmentStatus), nullable=False),
    sa.Column("delivery_id", sa.Integer, sa.ForeignKey("deliveries.id"), nullable=True),
    # issue 11 (migration 0004): when a recipient's choice reserved this door
    sa.Column("reserved_at", UTCDateTime()),
    sa.UniqueConstraint("locker_id", "label", name="uq_locker_compartments_locker_label"),
)

delivery_slots = sa.Table(
    "delivery_slots",
    metadata,
    _id(),
    _fk("depot_id", "depots.id"),
    sa.Column("service_date", sa.Date, nullable=False),
    sa.Column("starts_at", UTCDateTime(), nullable=False),
    sa.Column("ends_at", UTCDateTime(), nullable=False),
    sa.Column("capacity", sa.Integer, nullable=False),
    sa.Column("booked", sa.Integer, nullable=False),
    sa.UniqueConstraint("depot_id", "starts_at", name="uq_delivery_slots_depot_start"),
    sa.CheckConstraint("booked >= 0", name="booked_not_negative"),
)

routes = sa.Table(
    "routes",
    metadata,
    _id(),
    _fk("driver_id", "drivers.id"),
    _fk("vehicle_id", "vehicles.id"),
    _fk("depot_id", "depots.id"),
    sa.Column("service_date", sa.Date, nullable=False, index=True),
    sa.Column("status", _enum(m.RouteStatus), nullable=False),
    sa.Column("plan_version", sa.Integer, nullable=False),
    sa.Column("planned_start", UTCDateTime()),
    sa.Column("planned_end", UTCDateTime()),
    sa.Column("planned_distance_m", sa.Float, nullable=False),
    sa.Column("started_at", UTCDateTime()),
    sa.Column("completed_at", UTCDateTime()),
)

stops = sa.Table(
    "stops",
    metadata,
    _id(),
    _fk("route_id", "routes.id", nullable=True, ondelete="CASCADE"),
    sa.Column("sequence", sa.Integer, nullable=False),
    sa.Column("kind", _enum(m.StopKind), nullable=False),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("lng", sa.Float, nullable=False),
    sa.Column("service_seconds", sa.Integer, nullable=False),
    sa.Column("planned_arrival", UTCDateTime()),
    sa.Column("planned_travel_s", sa.Integer, nullable=False, server_default="0"),
    sa.Column("expected_arrival", UTCDateTime()),
    sa.Column("eta_earliest", UTCDateTime()),
    sa.Column("eta_latest", UTCDateTime()),
    sa.Column("status", _enum(m.StopStatus), nullable=False),
    sa.Column("locker_id", sa.Integer, sa.ForeignKey("lockers.id"), nullable=True),
    sa.Column("arrived_at", UTCDateTime()),
    sa.Column("departed_at", UTCDateTime()),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    _id(),
    sa.Column("tracking_number", sa.String(32), nullable=False, unique=True),
    sa.Column("tracking_token", sa.String(64), nullable=False, unique=True),
    sa.Column("recipient_name", sa.String(120), nullable=False),
    sa.Column("phone", sa.String(20), nullable=False, index=True),
    sa.Column("email", sa.String(255)),
    sa.Column("address_line", sa.String(255), nullable=False),
    sa.Column("postcode", sa.String(16), nullable=False, index=True),
    sa.Column("city", sa.String(120), nullable=False),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("lng", sa.Float, nullable=False),
    _fk("depot_id", "depots.id"),
    sa.Column("service_date", sa.Date, index=True),
    sa.Column("window_start", UTCDateTime()),
    sa.Column("window_end", UTCDateTime()),
    _fk("slot_id", "delivery_slots.id", nullable=True),
    sa.Column("option", _enum(m.DeliveryOption), nullable=False),
    sa.Column("safe_place", sa.String(255)),
    sa.Column("neighbour", sa.String(255)),
    sa.Column("instructions", sa.Text),
    sa.Column("access_code", EncryptedString()),
    _fk("locker_id", "lockers.id", nullable=True),
    sa.Column("parcel_size", _enum(m.ParcelSize), nullable=False),
    sa.Column("weight_kg", sa.Float, nullable=False),
    sa.Column("status", _enum(DeliveryStatus), nullable=False, index=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    _fk("stop_id", "stops.id", nullable=True, ondelete="SET NULL"),
    sa.Column("sms_enabled", sa.Boolean, nullable=False),
    sa.Column("quiet_hours", sa.String(11)),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime()),
    sa.Column("version", sa.Integer, nullable=False),
    # issue 11 (migration 0004): trunk delivery, muted texts, reschedules, locker pickup code
    sa.Column("trunk_make", sa.String(40)),
    sa.Column("trunk_colour", sa.String(30)),
    sa.Column("trunk_plate", sa.String(12)),
    sa.Column("trunk_lat", sa.Float),
    sa.Column("trunk_lng", sa.Float),
    sa.Column("trunk_spot", sa.String(200)),
    sa.Column("trunk_from", UTCDateTime()),
    sa.Column("trunk_until", UTCDateTime()),
    sa.Column("sms_muted", sa.String(255)),
    sa.Column("reschedules", sa.Integer, nullable=False, server_default="0"),
    sa.Column("pickup_code", sa.String(16)),
    # issue 13 (migration 0009): the carrier's reference, unique, and what it announced
    sa.Column("reference", sa.String(64), unique=True),
    sa.Column("intake_fingerprint", sa.String(64)),
    # issue 14 (migration 0012): name and street folded for support's search box
    # (domain/lookup.fold), kept in step by the mapper hook below; trigram-indexed on PG.
    sa.Column("search_name", sa.String(255)),
    sa.Column("search_street", sa.String(255)),
)
for _column in ("search_name", "search_street"):
    sa.Index(
        f"ix_deliveries_{_column}_trgm",
        deliveries.c[_column],
        postgresql_using="gin",
        postgresql_ops={_column: "gin_trgm_ops"},
    )

delivery_events = sa.Table(
    "delivery_events",
    metadata,
    _id(),
    _fk("delivery_id", "deliveries.id", ondelete="CASCADE"),
    sa.Column("occurred_at", UTCDateTime(), nullable=False),
    sa.Column("actor", sa.String(16), nullable=False),
    sa.Column("actor_id", sa.String(64)),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
)

outbound_sms = sa.Table(
    "outbound_sms",
    metadata,
    _id(),
    sa.Column("idempotency_key", sa.String(128), nullable=False, unique=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("to", sa.String(20), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    _fk("delivery_id", "deliveries.id", nullable=True, ondelete="SET NULL"),
    sa.Column("status", _enum(m.SmsStatus), nullable=False, index=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", UTCDateTime()),
    sa.Column("provider_sid", sa.String(64), unique=True),
    sa.Column("error", sa.Text),
    sa.Column("sent_at", UTCDateTime()),
    sa.Column("status_updated_at", UTCDateTime()),
    # The sender's claim looks for due texts by status and time.
    sa.Index("ix_outbound_sms_due", "status", "next_attempt_at"),
)

inbound_sms = sa.Table(
    "inbound_sms",
    metadata,
    _id(),
    sa.Column("provider_sid", sa.String(64), nullable=False, unique=True),
    sa.Column("from_phone", sa.String(20), nullable=False, index=True),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    _fk("delivery_id", "deliveries.id", nullable=True, ondelete="SET NULL"),
    sa.Column("reply", sa.Text),
)

sms_opt_outs = sa.Table(
    "sms_opt_outs",
    metadata,
    _id(),
    sa.Column("phone", sa.String(20), nullable=False, unique=True),
    sa.Column("opted_out_at", UTCDateTime(), nullable=False),
)

proof_photos = sa.Table(
    "proof_photos",
    metadata,
    _id(),
    _fk("delivery_id", "deliveries.id", ondelete="CASCADE"),
    sa.Column("storage_key", sa.String(128), nullable=False, unique=True),
    sa.Column("content_type", sa.String(64), nullable=False),
    sa.Column("width", sa.Integer, nullable=False),
    sa.Column("height", sa.Integer, nullable=False),
    sa.Column("uploaded_at", UTCDateTime(), nullable=False),
    sa.Column("taken_at", UTCDateTime()),
    sa.Column("lat", sa.Float),
    sa.Column("lng", sa.Float),
    sa.Column("thumbnail_key", sa.String(128)),
)

ratings = sa.Table(
    "ratings",
    metadata,
    _id(),
    sa.Column(
        "delivery_id",
        sa.Integer,
        sa.ForeignKey("deliveries.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    sa.Column("score", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("comment", sa.Text),
    sa.CheckConstraint("score BETWEEN 1 AND 5", name="score_range"),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    _id(),
    _fk("driver_id", "drivers.id", ondelete="CASCADE"),
    sa.Column("key", sa.String(100), nullable=False),
    sa.Column("request", sa.String(60), nullable=False),
    sa.Column("status_code", sa.Integer, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("driver_id", "key", name="uq_idempotency_keys_driver_key"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    _id(),
    sa.Column("name", sa.String(80), nullable=False, unique=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("scopes", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("revoked_at", UTCDateTime()),
)

staff_users = sa.Table(
    "staff_users",
    metadata,
    _id(),
    sa.Column("email", sa.String(255), nullable=False, unique=True),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("role", _enum(m.StaffRole), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
    sa.Column("locked_until", UTCDateTime()),
    sa.Column("last_login_at", UTCDateTime()),
)

# ---- issue 13: outbound webhooks (migration 0008)

webhook_subscriptions = sa.Table(
    "webhook_subscriptions",
    metadata,
    _id(),
    sa.Column("url", sa.String(2000), nullable=False),
    sa.Column("events", sa.String(500), nullable=False),
    sa.Column("secret", EncryptedString(), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

webhook_messages = sa.Table(
    "webhook_messages",
    metadata,
    _id(),
    sa.Column("event_id", sa.String(40), nullable=False),
    _fk("subscription_id", "webhook_subscriptions.id", ondelete="CASCADE"),
    _fk("delivery_id", "deliveries.id", ondelete="CASCADE"),
    sa.Column("event_type", sa.String(40), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("status", _enum(wh.WebhookStatus), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", UTCDateTime()),
    sa.Column("last_status_code", sa.Integer),
    sa.Column("error", sa.Text),
    sa.Column("sent_at", UTCDateTime()),
    sa.UniqueConstraint("subscription_id", "event_id", name="uq_webhook_messages_event"),
    # The sender's claim: due rows by status and time, then the earlier rows of the same
    # subscriber and delivery (which hold later ones back).
    sa.Index("ix_webhook_messages_due", "status", "next_attempt_at"),
    sa.Index("ix_webhook_messages_order", "subscription_id", "delivery_id", "id"),
)

webhook_attempts = sa.Table(
    "webhook_attempts",
    metadata,
    _id(),
    _fk("message_id", "webhook_messages.id", ondelete="CASCADE"),
    _fk("subscription_id", "webhook_subscriptions.id", ondelete="CASCADE"),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("attempted_at", UTCDateTime(), nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("error", sa.Text),
)


# issue 13: planning a depot's day runs as a job; its state and result live here (0011)
planning_jobs = sa.Table(
    "planning_jobs",
    metadata,
    _id(),
    _fk("depot_id", "depots.id", ondelete="CASCADE"),
    sa.Column("service_date", sa.Date, nullable=False),
    sa.Column("requested_at", UTCDateTime(), nullable=False),
    sa.Column("trigger", sa.String(16), nullable=False),
    sa.Column("state", _enum(m.JobState), nullable=False),
    sa.Column("started_at", UTCDateTime()),
    sa.Column("finished_at", UTCDateTime()),
    sa.Column("result", sa.JSON),
    sa.Column("error", sa.Text),
    sa.Column("schedule_key", sa.String(64), unique=True),
    sa.Column("stops", sa.Integer),  # 0013
    sa.Column("time_limit_s", sa.Float),
)
# One open job per depot-day: two plans of one day at once would fight over its routes.
_OPEN_JOB = sa.text("state IN ('queued', 'running')")
sa.Index(
    "uq_planning_jobs_open",
    planning_jobs.c.depot_id,
    planning_jobs.c.service_date,
    unique=True,
    sqlite_where=_OPEN_JOB,
    postgresql_where=_OPEN_JOB,
)

_mapped = False


def _fold_for_search(_mapper: object, _connection: object, delivery: m.Delivery) -> None:
    # Support's search matches these (domain/lookup.py), whoever created or changed the row.
    delivery.search_name = fold(delivery.recipient_name)  # type: ignore[attr-defined]
    delivery.search_street = fold_street(delivery.address_line)  # type: ignore[attr-defined]


def start_mappers() -> None:
    """Map the domain classes onto the tables (idempotent: safe for many app instances)."""
    global _mapped
    if _mapped:
        return
    reg = mapper_registry
    reg.map_imperatively(m.Depot, depots)
    reg.map_imperatively(m.ServiceArea, service_areas)
    reg.map_imperatively(m.VehicleType, vehicle_types)
    reg.map_imperatively(m.Vehicle, vehicles)
    reg.map_imperatively(m.Driver, drivers)
    reg.map_imperatively(m.DriverPosition, driver_positions)
    reg.map_imperatively(m.LockerCompartment, locker_compartments)
    reg.map_imperatively(
        m.Locker,
        lockers,
        properties={
            "compartments": relationship(
                m.LockerCompartment,
                cascade="all, delete-orphan",
                order_by=locker_compartments.c.label,
            )
        },
    )
    reg.map_imperatively(m.DeliverySlot, delivery_slots)
    reg.map_imperatively(m.Stop, stops)
    reg.map_imperatively(
        m.Route,
        routes,
        properties={
            "stops": relationship(m.Stop, cascade="all, delete-orphan", order_by=stops.c.sequence)
        },
    )
    reg.map_imperatively(m.Delivery, deliveries, version_id_col=deliveries.c.version)
    reg.map_imperatively(TimelineEntry, delivery_events)
    reg.map_imperatively(m.OutboundSms, outbound_sms)
    reg.map_imperatively(m.InboundSms, inbound_sms)
    reg.map_imperatively(m.SmsOptOut, sms_opt_outs)
    reg.map_imperatively(m.ProofPhoto, proof_photos)
    reg.map_imperatively(m.Rating, ratings)
    reg.map_imperatively(m.StaffUser, staff_users)
    reg.map_imperatively(m.IdempotentAnswer, idempotency_keys)
    reg.map_imperatively(m.ApiKey, api_keys)
    reg.map_imperatively(wh.WebhookSubscription, webhook_subscriptions)  # issue 13: webhooks
    reg.map_imperatively(wh.WebhookMessage, webhook_messages)
    reg.map_imperatively(wh.WebhookAttempt, webhook_attempts)
    reg.map_imperatively(m.PlanningJob, planning_jobs)  # issue 13: the day
    # Loaded deliveries skip __init__, so give them their list of unrecorded events here.
    event.listen(m.Delivery, "load", lambda obj, _ctx: obj.init_events())
    event.listen(m.Delivery, "before_insert", _fold_for_search)
    event.listen(m.Delivery, "before_update", _fold_for_search)
    _mapped = True
