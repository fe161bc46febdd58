"""The OpenAPI 3 description of every JSON endpoint, served at /api/openapi.json."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

bp = Blueprint("api_spec", __name__)

ERROR = {"$ref": "#/components/schemas/Error"}


def _errors(*codes: int) -> dict[str, Any]:
    words = {
        400: "Bad request",
        401: "Missing or wrong driver token",
        422: "Invalid input",
        429: "Too many requests",
        503: "A dependency is down",
    }
    return {
        str(c): {"description": words[c], "content": {"application/json": {"schema": ERROR}}}
        for c in codes
    }


SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Lastmile Portal API", "version": "1.0.0"},
    "components": {
        "securitySchemes": {"driverToken": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error", "status"],
                "properties": {"error": {"type": "string"}, "status": {"type": "integer"}},
            },
            "Position": {
                "type": "object",
                "required": ["lat", "lng", "recorded_at"],
                "properties": {
                    "lat": {"type": "number", "minimum": -90, "maximum": 90},
                    "lng": {"type": "number", "minimum": -180, "maximum": 180},
                    "recorded_at": {"type": "string", "format": "date-time"},
                    "speed": {"type": "number", "description": "m/s"},
                    "heading": {"type": "number", "description": "degrees"},
                    "accuracy": {"type": "number", "description": "metres"},
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
                                        "maxItems": 1000,
                                        "items": {"$ref": "#/components/schemas/Position"},
                                    }
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "Counts of accepted, ignored and flagged fixes",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "accepted": {"type": "integer"},
                                        "ignored": {"type": "integer"},
                                        "flagged": {"type": "integer"},
                                    },
                                }
                            }
                        },
                    },
                    **_errors(401, 422, 429),
                },
            }
        },
        "/api/v1/driver/manifest": {
            "get": {
                "summary": "Today's route in visiting order with hand-over instructions",
                "security": [{"driverToken": []}],
                "responses": {"200": {"description": "The manifest"}, **_errors(401)},
            }
        },
    },
}


@bp.get("/api/openapi.json")
def openapi() -> ResponseReturnValue:
    """Serve the API description."""
    return jsonify(SPEC)
