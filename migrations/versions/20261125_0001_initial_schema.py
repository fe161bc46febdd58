"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-25 03:42:33.434493
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('depots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('address', sa.String(length=255), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lng', sa.Float(), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('opens_at', sa.String(length=5), nullable=False),
    sa.Column('closes_at', sa.String(length=5), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_depots')),
    sa.UniqueConstraint('code', name=op.f('uq_depots_code'))
    )
    op.create_table('sms_opt_outs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('opted_out_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_opt_outs')),
    sa.UniqueConstraint('phone', name=op.f('uq_sms_opt_outs_phone'))
    )
    op.create_table('staff_users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.Enum('agent', 'ops', 'admin', name='staffrole', native_enum=False, length=32), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_users')),
    sa.UniqueConstraint('email', name=op.f('uq_staff_users_email'))
    )
    op.create_table('vehicle_types',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.Enum('van', 'ev_van', 'cargo_bike', 'sidewalk_robot', 'gig_car', name='vehiclekind', native_enum=False, length=32), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('max_parcel_size', sa.Enum('S', 'M', 'L', name='parcelsize', native_enum=False, length=32), nullable=False),
    sa.Column('speed_factor', sa.Float(), nullable=False),
    sa.Column('range_km', sa.Float(), nullable=False),
    sa.Column('co2_g_per_km', sa.Float(), nullable=False),
    sa.Column('cost_per_km', sa.Float(), nullable=False),
    sa.Column('cost_per_hour', sa.Float(), nullable=False),
    sa.Column('fixed_cost', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vehicle_types')),
    sa.UniqueConstraint('code', name=op.f('uq_vehicle_types_code'))
    )
    op.create_table('delivery_slots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('depot_id', sa.Integer(), nullable=False),
    sa.Column('service_date', sa.Date(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('booked', sa.Integer(), nullable=False),
    sa.CheckConstraint('booked >= 0', name=op.f('ck_delivery_slots_booked_not_negative')),
    sa.ForeignKeyConstraint(['depot_id'], ['depots.id'], name=op.f('fk_delivery_slots_depot_id_depots')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_slots')),
    sa.UniqueConstraint('depot_id', 'starts_at', name='uq_delivery_slots_depot_start')
    )
    with op.batch_alter_table('delivery_slots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delivery_slots_depot_id'), ['depot_id'], unique=False)

    op.create_table('drivers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('employment', sa.Enum('staff', 'gig', name='employment', native_enum=False, length=32), nullable=False),
    sa.Column('api_token_hash', sa.String(length=64), nullable=False),
    sa.Column('depot_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('last_lat', sa.Float(), nullable=True),
    sa.Column('last_lng', sa.Float(), nullable=True),
    sa.Column('last_position_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['depot_id'], ['depots.id'], name=op.f('fk_drivers_depot_id_depots')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_drivers')),
    sa.UniqueConstraint('api_token_hash', name=op.f('uq_drivers_api_token_hash'))
    )
    with op.batch_alter_table('drivers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_drivers_depot_id'), ['depot_id'], unique=False)

    op.create_table('lockers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.Enum('locker', 'pickup_point', name='lockerkind', native_enum=False, length=32), nullable=False),
    sa.Column('address', sa.String(length=255), nullable=False),
    sa.Column('postcode', sa.String(length=16), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lng', sa.Float(), nullable=False),
    sa.Column('depot_id', sa.Integer(), nullable=False),
    sa.Column('opening_hours', sa.String(length=255), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['depot_id'], ['depots.id'], name=op.f('fk_lockers_depot_id_depots')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lockers')),
    sa.UniqueConstraint('code', name=op.f('uq_lockers_code'))
    )
    with op.batch_alter_table('lockers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lockers_depot_id'), ['depot_id'], unique=False)

    op.create_table('service_areas',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('depot_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('postcode_prefixes', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['depot_id'], ['depots.id'], name=op.f('fk_service_areas_depot_id_depots')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_areas'))
    )
    with op.batch_alter_table('service_areas', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_areas_depot_id'), ['depot_id'], unique=False)

    op.create_table('vehicles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('depot_id', sa.Integer(), nullable=False),
    sa.Column('vehicle_type_id', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['depot_id'], ['depots.id'], name=op.f('fk_vehicles_depot_id_depots')),
    sa.ForeignKeyConstraint(['vehicle_type_id'], ['vehicle_types.id'], name=op.f('fk_vehicles_vehicle_type_id_vehicle_types')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vehicles'))
    )
    with op.batch_alter_table('vehicles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vehicles_depot_id'), ['depot_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_vehicles_vehicle_type_id'), ['vehicle_type_id'], unique=False)

    op.create_table('driver_positions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('driver_id', sa.Integer(), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lng', sa.Float(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('speed', sa.Float(), nullable=True),
    sa.Column('heading', sa.Float(), nullable=True),
    sa.Column('accuracy', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['driver_id'], ['drivers.id'], name=op.f('fk_driver_positions_driver_id_drivers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_driver_positions'))
    )
    with op.batch_alter_table('driver_positions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_driver_positions_driver_id'), ['driver_id'], unique=False)
        batch_op.create_index('ix_driver_positions_driver_time', ['driver_id', 'recorded_at'], unique=False)

    op.create_table('routes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('driver_id', sa.Integer(), nullable=False),
    sa.Column('vehicle_id', sa.Integer(), nullable=False),
    sa.Column('depot_id', sa.Integer(), nullable=False),
    sa.Column('service_date', sa.Date(), nullable=False),
    sa.Column('status', sa.Enum('planned', 'in_progress', 'completed', 'cancelled', name='routestatus', native_enum=False, length=32), nullable=False),
    sa.Column('plan_version', sa.Integer(), nullable=False),
    sa.Column('planned_start', sa.DateTime(timezone=True), nullable=True),
    sa.Column('planned_end', sa.DateTime(timezone=True), nullable=True),
    sa.Column('planned_distance_m', sa.Float(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['depot_id'], ['depots.id'], name=op.f('fk_routes_depot_id_depots')),
    sa.ForeignKeyConstraint(['driver_id'], ['drivers.id'], name=op.f('fk_routes_driver_id_drivers')),
    sa.ForeignKeyConstraint(['vehicle_id'], ['vehicles.id'], name=op.f('fk_routes_vehicle_id_vehicles')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_routes'))
    )
    with op.batch_alter_table('routes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_routes_depot_id'), ['depot_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_routes_driver_id'), ['driver_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_routes_service_date'), ['service_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_routes_vehicle_id'), ['vehicle_id'], unique=False)

    op.create_table('stops',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('route_id', sa.Integer(), nullable=True),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('address', 'locker', name='stopkind', native_enum=False, length=32), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lng', sa.Float(), nullable=False),
    sa.Column('service_seconds', sa.Integer(), nullable=False),
    sa.Column('planned_arrival', sa.DateTime(timezone=True), nullable=True),
    sa.Column('eta_earliest', sa.DateTime(timezone=True), nullable=True),
    sa.Column('eta_latest', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.Enum('pending', 'arrived', 'done', 'failed', 'skipped', name='stopstatus', native_enum=False, length=32), nullable=False),
    sa.Column('locker_id', sa.Integer(), nullable=True),
    sa.Column('arrived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('departed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['locker_id'], ['lockers.id'], name=op.f('fk_stops_locker_id_lockers')),
    sa.ForeignKeyConstraint(['route_id'], ['routes.id'], name=op.f('fk_stops_route_id_routes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stops'))
    )
    with op.batch_alter_table('stops', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stops_route_id'), ['route_id'], unique=False)

    op.create_table('deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tracking_number', sa.String(length=32), nullable=False),
    sa.Column('tracking_token', sa.String(length=64), nullable=False),
    sa.Column('recipient_name', sa.String(length=120), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('email', sa.String(length=255), nullable=True),
    sa.Column('address_line', sa.String(length=255), nullable=False),
    sa.Column('postcode', sa.String(length=16), nullable=False),
    sa.Column('city', sa.String(length=120), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lng', sa.Float(), nullable=False),
    sa.Column('depot_id', sa.Integer(), nullable=False),
    sa.Column('service_date', sa.Date(), nullable=True),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=True),
    sa.Column('window_end', sa.DateTime(timezone=True), nullable=True),
    sa.Column('slot_id', sa.Integer(), nullable=True),
    sa.Column('option', sa.Enum('door', 'safe_place', 'neighbour', 'vehicle_trunk', 'locker', 'pickup_point', name='deliveryoption', native_enum=False, length=32), nullable=False),
    sa.Column('safe_place', sa.String(length=255), nullable=True),
    sa.Column('neighbour', sa.String(length=255), nullable=True),
    sa.Column('instructions', sa.Text(), nullable=True),
    sa.Column('access_code', sa.Text(), nullable=True),
    sa.Column('locker_id', sa.Integer(), nullable=True),
    sa.Column('parcel_size', sa.Enum('S', 'M', 'L', name='parcelsize', native_enum=False, length=32), nullable=False),
    sa.Column('weight_kg', sa.Float(), nullable=False),
    sa.Column('status', sa.Enum('created', 'scheduled', 'out_for_delivery', 'arriving', 'delivered', 'failed', 'rescheduled', 'redirected_to_locker', 'at_locker', 'collected', 'returned', 'cancelled', name='deliverystatus', native_enum=False, length=32), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('stop_id', sa.Integer(), nullable=True),
    sa.Column('sms_enabled', sa.Boolean(), nullable=False),
    sa.Column('quiet_hours', sa.String(length=11), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['depot_id'], ['depots.id'], name=op.f('fk_deliveries_depot_id_depots')),
    sa.ForeignKeyConstraint(['locker_id'], ['lockers.id'], name=op.f('fk_deliveries_locker_id_lockers')),
    sa.ForeignKeyConstraint(['slot_id'], ['delivery_slots.id'], name=op.f('fk_deliveries_slot_id_delivery_slots')),
    sa.ForeignKeyConstraint(['stop_id'], ['stops.id'], name=op.f('fk_deliveries_stop_id_stops'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deliveries')),
    sa.UniqueConstraint('tracking_number', name=op.f('uq_deliveries_tracking_number')),
    sa.UniqueConstraint('tracking_token', name=op.f('uq_deliveries_tracking_token'))
    )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deliveries_depot_id'), ['depot_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_deliveries_locker_id'), ['locker_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_deliveries_phone'), ['phone'], unique=False)
        batch_op.create_index(batch_op.f('ix_deliveries_postcode'), ['postcode'], unique=False)
        batch_op.create_index(batch_op.f('ix_deliveries_service_date'), ['service_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_deliveries_slot_id'), ['slot_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_deliveries_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_deliveries_stop_id'), ['stop_id'], unique=False)

    op.create_table('delivery_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('delivery_id', sa.Integer(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=16), nullable=False),
    sa.Column('actor_id', sa.String(length=64), nullable=True),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'], name=op.f('fk_delivery_events_delivery_id_deliveries'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_events'))
    )
    with op.batch_alter_table('delivery_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delivery_events_delivery_id'), ['delivery_id'], unique=False)

    op.create_table('inbound_sms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider_sid', sa.String(length=64), nullable=False),
    sa.Column('from_phone', sa.String(length=20), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delivery_id', sa.Integer(), nullable=True),
    sa.Column('reply', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'], name=op.f('fk_inbound_sms_delivery_id_deliveries'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_sms')),
    sa.UniqueConstraint('provider_sid', name=op.f('uq_inbound_sms_provider_sid'))
    )
    with op.batch_alter_table('inbound_sms', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbound_sms_delivery_id'), ['delivery_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbound_sms_from_phone'), ['from_phone'], unique=False)

    op.create_table('locker_compartments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('locker_id', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=16), nullable=False),
    sa.Column('size', sa.Enum('S', 'M', 'L', name='parcelsize', native_enum=False, length=32), nullable=False),
    sa.Column('status', sa.Enum('free', 'reserved', 'occupied', 'out_of_service', name='compartmentstatus', native_enum=False, length=32), nullable=False),
    sa.Column('delivery_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'], name=op.f('fk_locker_compartments_delivery_id_deliveries')),
    sa.ForeignKeyConstraint(['locker_id'], ['lockers.id'], name=op.f('fk_locker_compartments_locker_id_lockers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_locker_compartments')),
    sa.UniqueConstraint('locker_id', 'label', name='uq_locker_compartments_locker_label')
    )
    with op.batch_alter_table('locker_compartments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_locker_compartments_locker_id'), ['locker_id'], unique=False)

    op.create_table('outbound_sms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('to', sa.String(length=20), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delivery_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.Enum('pending', 'deferred', 'sending', 'queued', 'sent', 'delivered', 'undelivered', 'failed', 'cancelled', name='smsstatus', native_enum=False, length=32), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('provider_sid', sa.String(length=64), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status_updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'], name=op.f('fk_outbound_sms_delivery_id_deliveries'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbound_sms')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_outbound_sms_idempotency_key')),
    sa.UniqueConstraint('provider_sid', name=op.f('uq_outbound_sms_provider_sid'))
    )
    with op.batch_alter_table('outbound_sms', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbound_sms_delivery_id'), ['delivery_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbound_sms_status'), ['status'], unique=False)

    op.create_table('proof_photos',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('delivery_id', sa.Integer(), nullable=False),
    sa.Column('storage_key', sa.String(length=128), nullable=False),
    sa.Column('content_type', sa.String(length=64), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('taken_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lng', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'], name=op.f('fk_proof_photos_delivery_id_deliveries'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_proof_photos')),
    sa.UniqueConstraint('storage_key', name=op.f('uq_proof_photos_storage_key'))
    )
    with op.batch_alter_table('proof_photos', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_proof_photos_delivery_id'), ['delivery_id'], unique=False)

    op.create_table('ratings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('delivery_id', sa.Integer(), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.CheckConstraint('score BETWEEN 1 AND 5', name=op.f('ck_ratings_score_range')),
    sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'], name=op.f('fk_ratings_delivery_id_deliveries'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ratings')),
    sa.UniqueConstraint('delivery_id', name=op.f('uq_ratings_delivery_id'))
    )


def downgrade() -> None:
    op.drop_table('ratings')
    with op.batch_alter_table('proof_photos', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_proof_photos_delivery_id'))

    op.drop_table('proof_photos')
    with op.batch_alter_table('outbound_sms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbound_sms_status'))
        batch_op.drop_index(batch_op.f('ix_outbound_sms_delivery_id'))

    op.drop_table('outbound_sms')
    with op.batch_alter_table('locker_compartments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_locker_compartments_locker_id'))

    op.drop_table('locker_compartments')
    with op.batch_alter_table('inbound_sms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbound_sms_from_phone'))
        batch_op.drop_index(batch_op.f('ix_inbound_sms_delivery_id'))

    op.drop_table('inbound_sms')
    with op.batch_alter_table('delivery_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delivery_events_delivery_id'))

    op.drop_table('delivery_events')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deliveries_stop_id'))
        batch_op.drop_index(batch_op.f('ix_deliveries_status'))
        batch_op.drop_index(batch_op.f('ix_deliveries_slot_id'))
        batch_op.drop_index(batch_op.f('ix_deliveries_service_date'))
        batch_op.drop_index(batch_op.f('ix_deliveries_postcode'))
        batch_op.drop_index(batch_op.f('ix_deliveries_phone'))
        batch_op.drop_index(batch_op.f('ix_deliveries_locker_id'))
        batch_op.drop_index(batch_op.f('ix_deliveries_depot_id'))

    op.drop_table('deliveries')
    with op.batch_alter_table('stops', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stops_route_id'))

    op.drop_table('stops')
    with op.batch_alter_table('routes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_routes_vehicle_id'))
        batch_op.drop_index(batch_op.f('ix_routes_service_date'))
        batch_op.drop_index(batch_op.f('ix_routes_driver_id'))
        batch_op.drop_index(batch_op.f('ix_routes_depot_id'))

    op.drop_table('routes')
    with op.batch_alter_table('driver_positions', schema=None) as batch_op:
        batch_op.drop_index('ix_driver_positions_driver_time')
        batch_op.drop_index(batch_op.f('ix_driver_positions_driver_id'))

    op.drop_table('driver_positions')
    with op.batch_alter_table('vehicles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vehicles_vehicle_type_id'))
        batch_op.drop_index(batch_op.f('ix_vehicles_depot_id'))

    op.drop_table('vehicles')
    with op.batch_alter_table('service_areas', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_areas_depot_id'))

    op.drop_table('service_areas')
    with op.batch_alter_table('lockers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lockers_depot_id'))

    op.drop_table('lockers')
    with op.batch_alter_table('drivers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_drivers_depot_id'))

    op.drop_table('drivers')
    with op.batch_alter_table('delivery_slots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delivery_slots_depot_id'))

    op.drop_table('delivery_slots')
    op.drop_table('vehicle_types')
    op.drop_table('staff_users')
    op.drop_table('sms_opt_outs')
    op.drop_table('depots')
