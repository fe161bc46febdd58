"""Proof photos in an S3-compatible store: the real boto3 client against moto's S3 server on
127.0.0.1 (the same HTTP API AWS S3, MinIO and Ceph answer)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer
from PIL import Image

from lastmile_portal.adapters.s3_photo_store import S3PhotoStore
from lastmile_portal.domain import model as m
from lastmile_portal.domain.errors import ServiceUnavailable
from tests.builders import DRIVER_TOKEN, load_stop_id, make_delivery, make_route, make_world
from tests.servers import free_port
from tests.web.test_proof_page import proof_of

BUCKET = "lastmile-proof"
CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test-secret"}


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_url):  # type: ignore[no-untyped-def]
    client = boto3.client("s3", endpoint_url=s3_url, region_name="eu-central-1", **CREDENTIALS)
    client.create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def _store(s3_url: str, bucket: str = BUCKET) -> S3PhotoStore:
    return S3PhotoStore(
        bucket,
        endpoint_url=s3_url,
        region="eu-central-1",
        access_key_id=CREDENTIALS["aws_access_key_id"],
        secret_access_key=CREDENTIALS["aws_secret_access_key"],
    )


def test_put_get_delete_under_random_private_keys(s3_url, bucket) -> None:  # type: ignore[no-untyped-def]
    store = _store(s3_url)

    key = store.put(b"\xff\xd8 jpeg bytes", "image/jpeg")

    assert key.endswith(".jpg") and len(key) >= 32
    assert store.get(key) == b"\xff\xd8 jpeg bytes"
    [item] = bucket.list_objects_v2(Bucket=BUCKET)["Contents"]
    assert item["Key"] == "proof/" + key
    head = bucket.head_object(Bucket=BUCKET, Key=item["Key"])
    assert head["ContentType"] == "image/jpeg"
    store.delete(key)
    store.delete(key)  # twice: no error
    with pytest.raises(KeyError):
        store.get(key)
    with pytest.raises(KeyError):
        store.get("../other-bucket/secret.jpg")


def test_a_missing_bucket_is_a_clear_unavailability(s3_url) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ServiceUnavailable, match="photo store"):
        _store(s3_url, bucket="no-such-bucket").put(b"x", "image/jpeg")


@pytest.fixture
def config(config, s3_url, bucket):  # type: ignore[no-untyped-def]
    return {
        **config,
        "PHOTO_STORE": "s3",
        "S3_BUCKET": BUCKET,
        "S3_ENDPOINT_URL": s3_url,
        "S3_REGION": "eu-central-1",
        "S3_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
        "S3_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
    }


def test_a_drivers_photo_lands_in_the_bucket_and_the_recipient_sees_it(  # type: ignore[no-untyped-def]
    client, services, bucket
) -> None:
    world = make_world(services)
    d = make_delivery(world)
    make_route(world, [d])
    image = io.BytesIO()
    Image.new("RGB", (120, 90), (90, 60, 30)).save(image, "JPEG")

    answer = client.post(
        f"/api/v1/driver/stops/{load_stop_id(services, d)}/delivered",
        data={"photo": [(io.BytesIO(image.getvalue()), "door.jpg", "image/jpeg")]},
        content_type="multipart/form-data",
        headers={"Authorization": f"Bearer {DRIVER_TOKEN}"},
    )

    assert answer.status_code == 200, answer.get_json()
    keys = {o["Key"] for o in bucket.list_objects_v2(Bucket=BUCKET)["Contents"]}
    with services.uow() as uow:
        [row] = uow.repo.all(m.ProofPhoto)
    assert keys == {"proof/" + row.storage_key, "proof/" + row.thumbnail_key}
    page = proof_of(client.get(f"/t/{d.tracking_token}").get_data(as_text=True))
    [link] = page.links
    photo = client.get(link)
    assert (
        photo.status_code == 200
        and photo.data
        == bucket.get_object(Bucket=BUCKET, Key="proof/" + row.storage_key)["Body"].read()
    )
