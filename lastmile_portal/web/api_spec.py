"""The OpenAPI 3 description of every JSON endpoint, served at /api/openapi.json.

What it says about a GPS fix is built from ``domain.gps.FIELDS``, the definition the
intake enforces, so the two cannot drift apart; the fuzz tests hold the app to it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from ..domain import gps
from ..domain.attempts import FAILURE_REASONS, MAX_NOTE, MAX_RECIPIENT_NAME
from ..services.proof_photos import MAX_PHOTOS
from .driver_api import MAX_PARCELS_NAMED, MAX_TRACKING_NUMBER
from .webhooks import ERROR_CODE, OUTBOX_ID, PHONE, SID, STATUS

bp = Blueprint("api_spec", __name__)

ERROR = {"$ref": "#/components/schemas/Error"}
WORDS = {
    400: "The body is not valid JSON",
    401: "Missing or wrong driver token",
    403: "Not signed by Twilio (or not a form post)",
    413: "The body is larger than this endpoint takes",
    422: "Invalid input; the message says what is wrong",
    429: "Too many requests; Retry-After says when to try again",
    503: "A dependency is down",
}


def _answer(description: str, schema: dict[str, Any] = ERROR) -> dict[str, Any]:
    """Describe one JSON response."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int, words: dict[int, str] = WORDS) -> dict[str, Any]:
    """Describe the error responses ``codes`` in the endpoint's own ``words``."""
    return {str(c): _answer(words[c]) for c in codes}


def _manifest() -> dict[str, Any]:
    """Describe the manifest: stops in visiting order, each with its parcels."""
    text = {"type": "string", "nullable": True}
    number = {"type": "number", "nullable": True}
    when = {"type": "string", "format": "date-time", "nullable": True}
    trunk = {
        "type": "object",
        "nullable": True,
        "description": "Set when the parcel goes into the recipient's car (option vehicle_trunk)",
        "properties": {
            "make": text,
            "colour": text,
            "plate": text,
            "spot": {**text, "description": "Where the car is parked, in the recipient's words"},
            "lat": {**number, "description": "The car's pin, when the recipient set one"},
            "lng": number,
            "opens": {**when, "description": "The car is there from"},
            "closes": {**when, "description": "The car is there until"},
        },
    }
    parcel = {
        "type": "object",
        "properties": {
            "tracking_number": {"type": "string"},
            "recipient_name": {"type": "string"},
            "phone": {
                **text,
                "description": "only once the route is out and until the stop closes",
            },
            "status": {"type": "string"},
            "option": {"type": "string"},
            "safe_place": text,
            "neighbour": text,
            "instructions": text,
            "access_code": {
                **text,
                "description": "only for the next MANIFEST_CODE_STOPS open stops or once arrived",
            },
            "parcel_size": {"type": "string"},
            "trunk": trunk,
        },
    }
    stop = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "sequence": {"type": "integer"},
            "kind": {"type": "string"},
            "status": {"type": "string"},
            "lat": {"type": "number"},
            "lng": {"type": "number"},
            "address": {"type": "string"},
            "window_start": when,
            "window_end": when,
            "planned_arrival": when,
            "parcels": {"type": "array", "items": parcel},
        },
    }
    return {
        "type": "object",
        "properties": {
            "route_id": {"type": "integer", "nullable": True},
            "plan_version": {"type": "integer", "nullable": True},
            "status": text,
            "stops": {"type": "array", "items": stop},
        },
    }


def _position() -> dict[str, Any]:
    properties: dict[str, Any] = {
        f.name: {
            "type": "number",
            "minimum": f.minimum,
            "maximum": f.maximum,
            "description": f.description,
            # An optional value the phone does not know may be sent as null.
            **({} if f.required else {"nullable": True}),
        }
        for f in gps.FIELDS
    }
    properties["recorded_at"] = {
        "type": "string",
        "format": "date-time",
        "maxLength": gps.MAX_TIME_TEXT,
        "description": gps.RECORDED_AT_RULE,
    }
    return {
        "type": "object",
        "required": [f.name for f in gps.FIELDS if f.required] + ["recorded_at"],
        "properties": properties,
        "description": "Other members are allowed and ignored.",
    }


def _form(fields: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "required": required, "properties": fields}
            }
        },
    }


def _stop_action(summary: str, body: dict[str, Any]) -> dict[str, Any]:
    """Describe one of a driver's stop actions (arrived, failed, delivered)."""
    own = {"application/json": {"schema": ERROR}}
    return {
        "post": {
            "summary": summary,
            "security": [{"driverToken": []}],
            "parameters": [
                {
                    "name": "stop_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
                },
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "description": (
                        "Retry-safe: a retry with the same key gets the first answer again and "
                        "changes nothing; the same key for another action or stop is a 422"
                    ),
                    "schema": {"type": "string", "minLength": 1, "maxLength": 100},
                },
            ],
            "requestBody": body,
            "responses": {
                "200": {
                    "description": "Done; the stop's status now",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/StopAnswer"}}
                    },
                },
                "403": {"description": "A stop on another driver's route", "content": own},
                "404": {"description": "No such stop", "content": own},
                "409": {
                    "description": "The stop is already closed; stop_status says how",
                    "content": {
                        "application/json": {
                            "schema": {
                                "allOf": [
                                    ERROR,
                                    {
                                        "type": "object",
                                        "required": ["stop_status"],
                                        "properties": {"stop_status": {"type": "string"}},
                                    },
                                ]
                            }
                        }
                    },
                },
                **_errors(400, 401, 413, 422, 429, 503),
            },
        }
    }


def _locker_collected() -> dict[str, Any]:
    """Describe the locker operator's report of a collection (issue 12)."""
    return {
        "post": {
            "summary": "The recipient took the parcel out of the locker: it is collected",
            "description": (
                "Name the parcel by tracking number or by the pickup code the recipient "
                "typed. Its compartment is freed and the recipient asked for a rating. A "
                "repeated report answers the same."
            ),
            "security": [{"lockerKey": []}],
            "parameters": [
                {"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "description": "exactly one of the two",
                            "properties": {
                                "tracking_number": {"type": "string", "maxLength": 32},
                                "pickup_code": {"type": "string", "pattern": "^[0-9]{6}$"},
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "Collected (now or by an earlier report)",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["tracking_number", "status"],
                                "properties": {
                                    "tracking_number": {"type": "string"},
                                    "status": {"type": "string", "enum": ["collected"]},
                                    "compartment": {"type": "string", "nullable": True},
                                    "collected_at": {**_WHEN},
                                },
                            }
                        }
                    },
                },
                "401": _answer("Missing or wrong locker API key"),
                "403": _answer("The key is another locker's"),
                "404": _answer("No parcel with that tracking number or pickup code was put in"),
                "409": _answer("The parcel went back to the sender (not collected in time)"),
                **_errors(413, 422, 429, 503),
            },
        }
    }


_NUMBER = {"type": "number", "nullable": True}
_WHEN = {"type": "string", "format": "date-time", "nullable": True}


def _integration() -> dict[str, Any]:
    """Describe the integration API a carrier's systems call (issue 13)."""
    text = {"type": "string", "minLength": 1}
    announced = {
        "type": "object",
        "required": ["tracking_number", "tracking_url", "status"],
        "properties": {
            "tracking_number": {"type": "string"},
            "tracking_url": {"type": "string", "format": "uri"},
            "status": {"type": "string"},
        },
    }
    refused = {
        "description": "Every bad field at once, in `fields` (nothing stored)",
        "content": {
            "application/json": {
                "schema": {
                    "allOf": [
                        ERROR,
                        {
                            "type": "object",
                            "properties": {
                                "fields": {
                                    "type": "object",
                                    "additionalProperties": {"type": "string"},
                                }
                            },
                        },
                    ]
                }
            }
        },
    }
    info = {
        "type": "object",
        "required": ["tracking_number", "status", "tracking_url", "proof_photos"],
        "properties": {
            "tracking_number": {"type": "string"},
            "reference": {"type": "string", "nullable": True},
            "status": {"type": "string"},
            "status_label": {"type": "string"},
            "tracking_url": {"type": "string"},
            "window_start": _WHEN,
            "window_end": _WHEN,
            "eta_expected": _WHEN,
            "eta_earliest": _WHEN,
            "eta_latest": _WHEN,
            "attempts": {"type": "integer"},
            "updated_at": _WHEN,
            "proof_photos": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "taken_at": _WHEN,
                        "path": {"type": "string", "description": "GET it with the same key"},
                    },
                },
            },
        },
    }
    number = [
        {"name": "tracking_number", "in": "path", "required": True, "schema": {"type": "string"}}
    ]

    words = {
        400: "The body is not valid JSON",
        401: "Missing, unknown or revoked API key",
        403: "The key lacks the scope this needs",
        404: "No parcel with that tracking number (or no such photo)",
        413: "The body is larger than this endpoint takes",
        429: "Too many wrong keys from this address; Retry-After says when to try again",
        503: "A dependency is down",
    }

    return {
        "/api/v1/deliveries": {
            "post": {
                "summary": "Announce a parcel (idempotent on reference)",
                "description": (
                    "The same reference with the same details answers the same (header "
                    "Idempotent-Replayed: true); with other details 409. Give a window or "
                    "a slot id. Without a geocoder, address.lat and address.lng are needed."
                ),
                "security": [{"apiKey": ["deliveries:write"]}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["reference", "depot", "recipient", "address"],
                                "properties": {
                                    "reference": {"type": "string", "maxLength": 64},
                                    "depot": text,
                                    "recipient": {
                                        "type": "object",
                                        "required": ["name", "phone"],
                                        "properties": {
                                            "name": text,
                                            "phone": text,
                                            "email": {"type": "string"},
                                        },
                                    },
                                    "address": {
                                        "type": "object",
                                        "required": ["line", "postcode", "city"],
                                        "properties": {
                                            "line": text,
                                            "postcode": text,
                                            "city": text,
                                            "country": {"type": "string"},
                                            "lat": {"type": "number"},
                                            "lng": {"type": "number"},
                                        },
                                    },
                                    "window": {
                                        "type": "object",
                                        "properties": {
                                            "start": {"type": "string", "format": "date-time"},
                                            "end": {"type": "string", "format": "date-time"},
                                        },
                                    },
                                    "slot": {"type": "integer"},
                                    "parcel": {
                                        "type": "object",
                                        "properties": {
                                            "size": {"type": "string", "enum": ["S", "M", "L"]},
                                            "weight_kg": {"type": "number"},
                                        },
                                    },
                                    "option": {
                                        "type": "string",
                                        "enum": [
                                            "door",
                                            "safe_place",
                                            "neighbour",
                                            "locker",
                                            "pickup_point",
                                        ],
                                    },
                                    "locker": {"type": "string"},
                                    "safe_place": {"type": "string"},
                                    "instructions": {"type": "string"},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": _answer("Announced (or the same announcement again)", announced),
                    "409": _answer("The reference stands for a parcel with other details", ERROR),
                    "422": refused,
                    **_errors(400, 401, 403, 413, 429, 503, words=words),
                },
            }
        },
        "/api/v1/deliveries/{tracking_number}": {
            "get": {
                "summary": "A parcel's status, window, ETA and proof photos",
                "security": [{"apiKey": ["deliveries:read"]}],
                "parameters": number,
                "responses": {
                    "200": _answer("The parcel", info),
                    **_errors(401, 403, 404, 429, 503, words=words),
                },
            }
        },
        "/api/v1/deliveries/{tracking_number}/photos/{photo_id}": {
            "get": {
                "summary": "One proof photo of the parcel (JPEG without EXIF)",
                "security": [{"apiKey": ["deliveries:read"]}],
                "parameters": [
                    *number,
                    {
                        "name": "photo_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 0},
                    },
                ],
                "responses": {
                    "200": {"description": "The photo", "content": {"image/jpeg": {}}},
                    **_errors(401, 403, 404, 429, 503, words=words),
                },
            }
        },
        "/api/v1/deliveries/{tracking_number}/cancel": {
            "post": {
                "summary": "Cancel a parcel not yet out for delivery (a repeat answers the same)",
                "security": [{"apiKey": ["deliveries:write"]}],
                "parameters": number,
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"reason": {"type": "string", "maxLength": 200}},
                            }
                        }
                    },
                },
                "responses": {
                    "200": _answer("Cancelled", info),
                    "409": _answer("Out for delivery or done: too late to cancel", ERROR),
                    **_errors(401, 403, 404, 413, 429, 503, words=words),
                },
            }
        },
    }


def _day() -> dict[str, Any]:
    """Describe planning and dispatching a depot's day over the integration API (issue 13)."""
    nullable_when = {**_WHEN, "nullable": True}
    route = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "vehicle": {"type": "string", "nullable": True},
            "driver": {"type": "string", "nullable": True},
            "stops": {"type": "integer", "minimum": 0},
            "parcels": {"type": "integer", "minimum": 0},
            "distance_km": {"type": "number", "minimum": 0},
            "planned_start": nullable_when,
            "planned_end": nullable_when,
        },
    }
    job = {
        "type": "object",
        "required": ["id", "state", "depot", "service_date", "progress", "url"],
        "properties": {
            "id": {"type": "integer"},
            "state": {"type": "string", "enum": ["queued", "running", "done", "failed"]},
            "depot": {"type": "string"},
            "service_date": {"type": "string", "format": "date"},
            "trigger": {"type": "string", "enum": ["api", "cli", "schedule"]},
            "requested_at": _WHEN,
            "started_at": nullable_when,
            "finished_at": nullable_when,
            "progress": {"type": "string", "description": "one line for a person"},
            "time_limit_s": {
                "type": "number",
                "description": "the optimizer's time limit: OPTIMIZER_TIME_LIMIT per 100 stops "
                "once the job has read the day, OPTIMIZER_TIME_LIMIT before",
            },
            "stops": {
                "type": "integer",
                "nullable": True,
                "description": "stops being planned (null until the job has read the day)",
            },
            "error": {"type": "string", "nullable": True, "description": "why it failed"},
            "url": {"type": "string", "description": "where to poll the job"},
            "result": {
                "type": "object",
                "nullable": True,
                "description": "set once done",
                "properties": {
                    "planned": {"type": "integer", "minimum": 0},
                    "routes": {"type": "array", "items": route},
                    "dropped": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "tracking_number": {"type": "string"},
                                "reference": {"type": "string", "nullable": True},
                                "reason": {"type": "string"},
                            },
                        },
                    },
                    "routes_already_out": {
                        "type": "array",
                        "items": {"type": "integer"},
                        "description": "dispatched before this plan: left as they were",
                    },
                },
            },
        },
    }
    dispatched = {
        "type": "object",
        "required": ["route_id", "parcels"],
        "properties": {
            "route_id": {"type": "integer"},
            "driver": {"type": "string"},
            "vehicle": {"type": "string"},
            "parcels": {
                "type": "integer",
                "minimum": 0,
                "description": "parcels now out for delivery; each recipient's text is queued",
            },
        },
    }

    words = {
        401: "Missing, unknown or revoked API key",
        403: "The key lacks routes:write",
        404: "No such depot, job or route",
        409: "The route is already out, done or cancelled",
        413: "The body is larger than this endpoint takes",
        422: "Invalid input (a date that is not YYYY-MM-DD, or in the past)",
        429: "Too many wrong keys from this address; Retry-After says when to try again",
        503: "A dependency is down",
    }

    def path(name: str) -> dict[str, Any]:
        kind = {"type": "string"} if name == "code" else {"type": "integer", "minimum": 0}
        return {"name": name, "in": "path", "required": True, "schema": kind}

    security = [{"apiKey": ["routes:write"]}]
    return {
        "/api/v1/depots/{code}/plan": {
            "post": {
                "summary": "Plan a depot's day (a job: 202, then poll Location)",
                "description": (
                    "Plans every parcel of the day waiting for a route. Routes already "
                    "dispatched keep their parcels; planned routes not yet dispatched are "
                    "planned again with the newer parcels. While a plan of that day is "
                    "queued or running, the answer is that job."
                ),
                "security": security,
                "parameters": [path("code")],
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "date": {
                                        "type": "string",
                                        "format": "date",
                                        "description": "default: today in the depot's zone",
                                    }
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "202": {
                        **_answer("Queued (or already planned, with the inline queue)", job),
                        "headers": {"Location": {"schema": {"type": "string"}}},
                    },
                    **_errors(401, 403, 404, 413, 422, 429, 503, words=words),
                },
            }
        },
        "/api/v1/jobs/{job_id}": {
            "get": {
                "summary": "A planning job's state, progress and result",
                "security": security,
                "parameters": [path("job_id")],
                "responses": {
                    "200": _answer("The job", job),
                    **_errors(401, 403, 404, 429, 503, words=words),
                },
            }
        },
        "/api/v1/routes/{route_id}/dispatch": {
            "post": {
                "summary": "Send a planned route out (its parcels out for delivery, texts queued)",
                "security": security,
                "parameters": [path("route_id")],
                "responses": {
                    "200": _answer("Dispatched", dispatched),
                    **_errors(401, 403, 404, 409, 429, 503, words=words),
                },
            }
        },
    }


SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Lastmile Portal API", "version": "1.0.0"},
    "components": {
        "securitySchemes": {
            "driverToken": {"type": "http", "scheme": "bearer"},
            "lockerKey": {"type": "http", "scheme": "bearer"},
            "apiKey": {
                "type": "http",
                "scheme": "bearer",
                "description": "flask --app app api-key create NAME [--scope ...]",
            },
            "twilioSignature": {"type": "apiKey", "in": "header", "name": "X-Twilio-Signature"},
        },
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error", "status"],
                "properties": {"error": {"type": "string"}, "status": {"type": "integer"}},
            },
            "Position": _position(),
            "StopAnswer": {
                "type": "object",
                "required": [
                    "stop_id",
                    "stop_status",
                    "parcels",
                    "tracking_numbers",
                    "photos",
                    "open_parcels",
                ],
                "properties": {
                    "stop_id": {"type": "integer"},
                    "stop_status": {
                        "type": "string",
                        "enum": ["pending", "arrived", "done", "failed"],
                        "description": "pending or arrived while parcels are left at the stop",
                    },
                    "parcels": {
                        "type": "integer",
                        "minimum": 0,
                        "description": "how many parcels this action changed",
                    },
                    "tracking_numbers": {"type": "array", "items": {"type": "string"}},
                    "photos": {"type": "integer", "minimum": 0},
                    "open_parcels": {
                        "type": "integer",
                        "minimum": 0,
                        "description": "parcels still to hand over at this stop",
                    },
                },
            },
            "PositionsResult": {
                "type": "object",
                "required": ["accepted", "ignored", "flagged", "rejected"],
                "properties": {
                    "accepted": {"type": "integer", "minimum": 0},
                    "ignored": {
                        "type": "integer",
                        "minimum": 0,
                        "description": "not newer than the newest fix already taken",
                    },
                    "flagged": {
                        "type": "integer",
                        "minimum": 0,
                        "description": "impossible jumps: stored, but the driver does not move",
                    },
                    "rejected": {
                        "type": "array",
                        "description": "fixes dropped because they break the rules above",
                        "items": {
                            "type": "object",
                            "required": ["index", "error"],
                            "properties": {
                                "index": {"type": "integer", "minimum": 0},
                                "error": {"type": "string"},
                            },
                        },
                    },
                },
            },
        },
    },
    "paths": {
        "/healthz": {
            "get": {
                "summary": "Health of the portal and each dependency",
                "responses": {
                    "200": {"description": "All dependencies answer"},
                    "503": {"description": "A dependency is down"},
                },
            }
        },
        "/api/v1/driver/positions": {
            "post": {
                "summary": "Send GPS fixes (batches allowed; old and duplicate ones are ignored)",
                "description": (
                    "Each fix is checked on its own: unreadable ones are listed in `rejected` "
                    "and the rest are taken. A batch with no readable fix is a 422. Bodies "
                    "over 1 MiB are refused with 413."
                ),
                "security": [{"driverToken": []}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["positions"],
                                "properties": {
                                    "positions": {
                                        "type": "array",
                                        "minItems": 1,
                                        "maxItems": gps.MAX_BATCH,
                                        # Each fix is judged on its own, so the batch
                                        # takes any item: what is not a Position is
                                        # listed in `rejected`, not refused with it.
                                        "items": {
                                            "anyOf": [
                                                {"$ref": "#/components/schemas/Position"},
                                                {},
                                            ],
                                            "description": (
                                                "A fix (Position). One that breaks its "
                                                "rules is listed in `rejected` and the "
                                                "others are still taken."
                                            ),
                                        },
                                    }
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "What became of each fix",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/PositionsResult"}
                            }
                        },
                    },
                    **_errors(400, 401, 413, 422, 429, 503),
                },
            }
        },
        "/api/v1/driver/manifest": {
            "get": {
                "summary": "Today's route in visiting order with hand-over instructions",
                "security": [{"driverToken": []}],
                "responses": {
                    "200": {
                        "description": "The manifest",
                        "content": {"application/json": {"schema": _manifest()}},
                    },
                    **_errors(401, 429, 503),
                },
            }
        },
        "/api/v1/driver/stops/{stop_id}/arrived": _stop_action(
            "The driver is at the stop: its recipients see 'arriving'",
            {
                "required": False,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "lat": {**_NUMBER, "minimum": -90, "maximum": 90},
                                "lng": {**_NUMBER, "minimum": -180, "maximum": 180},
                                "recorded_at": _WHEN,
                            },
                        }
                    }
                },
            },
        ),
        "/api/v1/driver/stops/{stop_id}/failed": _stop_action(
            "The stop could not be served: the parcels fail, the rest of the route is re-planned",
            {
                "required": True,
                "description": "JSON, or multipart/form-data with a photo of the attempt",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["reason"],
                            "properties": {
                                "reason": {"type": "string", "enum": list(FAILURE_REASONS)},
                                "note": {"type": "string", "maxLength": MAX_NOTE},
                            },
                        }
                    },
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["reason"],
                            "properties": {
                                "reason": {"type": "string", "enum": list(FAILURE_REASONS)},
                                "note": {"type": "string", "maxLength": MAX_NOTE},
                                "photo": {
                                    "type": "array",
                                    "maxItems": MAX_PHOTOS,
                                    "items": {"type": "string", "format": "binary"},
                                },
                                "lat": {"type": "number", "minimum": -90, "maximum": 90},
                                "lng": {"type": "number", "minimum": -180, "maximum": 180},
                                "recorded_at": {"type": "string", "format": "date-time"},
                            },
                        }
                    },
                },
            },
        ),
        "/api/v1/driver/stops/{stop_id}/delivered": _stop_action(
            "The parcels at the stop were handed over, with up to 5 proof photos",
            {
                "required": True,
                "description": (
                    "Photos: JPEG, PNG or WebP by content, each at most PHOTO_MAX_BYTES; a "
                    "refused photo is a 422 and nothing changes. PROOF_PHOTO_REQUIRED says "
                    "when one is needed (422 without)"
                ),
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "photo": {
                                    "type": "array",
                                    "maxItems": MAX_PHOTOS,
                                    "items": {"type": "string", "format": "binary"},
                                },
                                "lat": {"type": "number", "minimum": -90, "maximum": 90},
                                "lng": {"type": "number", "minimum": -180, "maximum": 180},
                                "recorded_at": {"type": "string", "format": "date-time"},
                                "recipient_name": {
                                    "type": "string",
                                    "maxLength": MAX_RECIPIENT_NAME,
                                    "description": "who took it; a photo is then optional",
                                },
                                "deliveries": {
                                    "type": "array",
                                    "maxItems": MAX_PARCELS_NAMED,
                                    "items": {"type": "string", "maxLength": MAX_TRACKING_NUMBER},
                                    "description": (
                                        "tracking numbers of the parcels handed over (repeated "
                                        "or comma-separated); default all open at the stop"
                                    ),
                                },
                            },
                        }
                    }
                },
            },
        ),
        "/api/v1/lockers/{code}/collected": _locker_collected(),
        **_integration(),
        **_day(),
        "/webhooks/twilio/sms": {
            "post": {
                "summary": "A recipient's text, from Twilio (answered in TwiML)",
                "security": [{"twilioSignature": []}],
                "requestBody": _form(
                    {
                        "MessageSid": {"type": "string", "pattern": f"^{SID.pattern}$"},
                        "From": {"type": "string", "pattern": f"^{PHONE.pattern}$"},
                        "Body": {"type": "string", "description": "control characters removed"},
                    },
                    ["MessageSid", "From"],
                ),
                "responses": {
                    "200": {"description": "TwiML", "content": {"text/xml": {}}},
                    **_errors(403, 413, 422, 503),
                },
            }
        },
        "/webhooks/twilio/status": {
            "post": {
                "summary": "A status report on one of our texts, from Twilio",
                "security": [{"twilioSignature": []}],
                "parameters": [
                    {
                        "name": "m",
                        "in": "query",
                        "required": False,
                        "description": "our outbox id, set in the callback URL we gave Twilio",
                        "schema": {"type": "string", "pattern": f"^{OUTBOX_ID.pattern}$"},
                    }
                ],
                "requestBody": _form(
                    {
                        "MessageSid": {"type": "string", "pattern": f"^{SID.pattern}$"},
                        "MessageStatus": {"type": "string", "pattern": f"^{STATUS.pattern}$"},
                        "ErrorCode": {"type": "string", "pattern": f"^{ERROR_CODE.pattern}$"},
                    },
                    ["MessageSid", "MessageStatus"],
                ),
                "responses": {
                    "204": {"description": "Recorded (or about a text we do not know)"},
                    **_errors(403, 413, 422, 503),
                },
            }
        },
    },
}


@bp.get("/api/openapi.json")
def openapi() -> ResponseReturnValue:
    """Serve the API description."""
    return jsonify(SPEC)
