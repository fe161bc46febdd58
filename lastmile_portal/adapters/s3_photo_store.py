"""Proof photos in an S3-compatible object store (AWS S3, MinIO, Ceph...): the only boto3 user."""

from __future__ import annotations

import secrets
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ..domain.errors import ServiceUnavailable
from .photo_store import EXTENSIONS, valid_key

MISSING = {"NoSuchKey", "404", "NotFound"}


class S3PhotoStore:
    """Keep photos as private objects under ``prefix`` in one bucket; keys are random."""

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "proof/",
        endpoint_url: str = "",
        region: str = "",
        access_key_id: str = "",
        secret_access_key: str = "",
        client: Any = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        # Empty credentials: boto3's own chain (instance role, its config files).
        self.client = client or boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region or None,
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            config=Config(connect_timeout=5, read_timeout=15, retries={"max_attempts": 3}),
        )

    def put(self, data: bytes, content_type: str) -> str:
        """Store ``data`` and return its new key."""
        key = secrets.token_urlsafe(24) + EXTENSIONS.get(content_type, ".bin")
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self.prefix + key,
                Body=data,
                ContentType=content_type,
            )
        except (BotoCoreError, ClientError) as error:
            raise ServiceUnavailable("photo store", _reason(error)) from None
        return key

    def get(self, key: str) -> bytes:
        """Return the bytes stored under ``key``; raise KeyError for unknown keys."""
        if not valid_key(key):
            raise KeyError(key)
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
            return bytes(answer["Body"].read())
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in MISSING:
                raise KeyError(key) from None
            raise ServiceUnavailable("photo store", _reason(error)) from None
        except BotoCoreError as error:
            raise ServiceUnavailable("photo store", _reason(error)) from None

    def delete(self, key: str) -> None:
        """Remove the object under ``key``; an unknown key is no error (S3 says the same)."""
        if not valid_key(key):
            return
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)
        except (BotoCoreError, ClientError) as error:
            raise ServiceUnavailable("photo store", _reason(error)) from None


def _reason(error: Exception) -> str:
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return f"{details.get('Code', 'error')}: {details.get('Message', '')}".strip()
    return type(error).__name__
