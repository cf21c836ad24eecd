"""Media store in an S3 bucket (AWS, MinIO or any S3-compatible service) through boto3.

One boto3 client is created per store and shared by every thread (boto3 clients are thread-safe;
sessions are not). Endpoint, region and credentials are configurable so MinIO works; path-style
addressing is the default for the same reason. Content objects live at ``{prefix}{sha256}``,
assembled uploads at ``{prefix}staging/<id>`` until promoted. Uploads in progress are native S3
multipart uploads, so another process can continue one given only its `MultipartUpload` and the
`Part` list kept in the database. All methods block: call them from a thread.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import tempfile
import urllib.parse
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from media.store.base import (
    STAGING_PREFIX,
    ContentMismatch,
    MediaStore,
    MultipartUpload,
    ObjectNotFound,
    Part,
    StoreError,
    check_content_key,
    check_key,
    sha256_hex,
)

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

__all__ = ["S3Store"]

#: S3's smallest allowed size for every part but the last.
S3_MIN_PART_SIZE = 5 * 1024 * 1024
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}


def _not_found(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) in _NOT_FOUND


class S3Store(MediaStore):
    """Content-addressed objects in an S3 bucket, with presigned download links.

    Args:
        bucket: Bucket name.
        prefix: Key prefix inside the bucket (``""`` or ending in ``/``; one is added).
        endpoint_url: Service URL, e.g. ``http://127.0.0.1:9000`` for MinIO; None for AWS.
        region_name: Region (MinIO accepts any, e.g. ``us-east-1``).
        aws_access_key_id: Access key; None to use boto3's usual credential chain.
        aws_secret_access_key: Secret key; None to use boto3's usual credential chain.
        public_endpoint_url: Endpoint used in presigned links when clients reach the service under
            another address than the app does (e.g. behind a proxy); defaults to ``endpoint_url``.
        part_size: Size of multipart parts the caller should buffer up to (at least 5 MiB).
        addressing_style: ``path`` (MinIO-friendly default) or ``virtual``.
        create_bucket: Create the bucket if it does not exist (handy for MinIO and tests).
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region_name: str | None = "us-east-1",
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        public_endpoint_url: str | None = None,
        part_size: int = S3_MIN_PART_SIZE,
        addressing_style: str = "path",
        create_bucket: bool = False,
        max_pool_connections: int = 32,
    ) -> None:
        if part_size < S3_MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {S3_MIN_PART_SIZE} bytes")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.min_part_size = part_size
        config = Config(
            s3={"addressing_style": addressing_style},  # type: ignore[arg-type]
            signature_version="s3v4",
            retries={"max_attempts": 4, "mode": "standard"},
            max_pool_connections=max_pool_connections,
            # Only send checksums where S3 requires them: older MinIO releases reject the rest.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        common: dict[str, Any] = {
            "region_name": region_name,
            "aws_access_key_id": aws_access_key_id,
            "aws_secret_access_key": aws_secret_access_key,
            "config": config,
        }
        self.client: S3Client = boto3.client("s3", endpoint_url=endpoint_url, **common)
        if public_endpoint_url and public_endpoint_url != endpoint_url:
            self._presign_client: S3Client = boto3.client("s3", endpoint_url=public_endpoint_url, **common)
        else:
            self._presign_client = self.client
        if create_bucket:
            self._ensure_bucket(region_name)

    def _ensure_bucket(self, region_name: str | None) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if not _not_found(exc):
                raise
            kwargs: dict[str, Any] = {"Bucket": self.bucket}
            if region_name and region_name != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region_name}
            self.client.create_bucket(**kwargs)

    def _object_key(self, key: str) -> str:
        return self.prefix + check_key(key)

    # -- objects ---------------------------------------------------------------------------------

    def put(self, key: str, data: bytes | BinaryIO, *, content_type: str | None = None) -> bool:
        """Store ``data`` under its content address (see `MediaStore.put`).

        The bytes are hashed before anything is sent, and S3 is asked to check the same SHA-256
        on arrival (``ChecksumSHA256``), so a wrong or damaged body never lands under the key.
        """
        check_content_key(key)
        if self.exists(key):
            if isinstance(data, bytes | bytearray | memoryview) and sha256_hex(bytes(data)) != key:
                raise ContentMismatch(f"content does not hash to {key}")
            return False
        if isinstance(data, bytes | bytearray | memoryview):
            raw = bytes(data)
            body: bytes | BinaryIO = raw
            digest = hashlib.sha256(raw).hexdigest()
        else:
            spool = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115
            hasher = hashlib.sha256()
            for chunk in iter(lambda: data.read(1 << 20), b""):
                hasher.update(chunk)
                spool.write(chunk)
            spool.seek(0)
            body, digest = cast(BinaryIO, spool), hasher.hexdigest()
        try:
            if digest != key:
                raise ContentMismatch(f"content hashes to {digest}, not {key}")
            extra: dict[str, Any] = {"ContentType": content_type} if content_type else {}
            self.client.put_object(
                Bucket=self.bucket,
                Key=self._object_key(key),
                Body=body,
                ChecksumSHA256=base64.b64encode(bytes.fromhex(key)).decode(),
                **extra,
            )
        finally:
            if not isinstance(body, bytes):
                body.close()
        return True

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key`` (one HEAD request)."""
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._object_key(key))
        except ClientError as exc:
            if _not_found(exc):
                return False
            raise
        return True

    def size(self, key: str) -> int:
        """Size in bytes of the object under ``key``."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._object_key(key))
        except ClientError as exc:
            if _not_found(exc):
                raise ObjectNotFound(key) from None
            raise
        return int(head["ContentLength"])

    def open(self, key: str) -> BinaryIO:
        """A streaming body of the object under ``key`` (close it)."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._object_key(key))
        except ClientError as exc:
            if _not_found(exc):
                raise ObjectNotFound(key) from None
            raise
        return cast(BinaryIO, response["Body"])

    def delete(self, key: str) -> None:
        """Remove the object under ``key`` (S3 deletes are idempotent)."""
        self.client.delete_object(Bucket=self.bucket, Key=self._object_key(key))

    # -- downloads -------------------------------------------------------------------------------

    def download_url(
        self,
        key: str,
        *,
        expires_in: int = 300,
        content_type: str | None = None,
        filename: str | None = None,
    ) -> str:
        """An S3 presigned GET URL valid for ``expires_in`` seconds."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self.prefix + check_content_key(key)}
        if content_type:
            params["ResponseContentType"] = content_type
        if filename:
            # An ASCII fallback plus the RFC 6266 / 5987 form for names such as 房屋.jpg.
            ascii_name = "".join(ch for ch in filename if 32 <= ord(ch) < 127 and ch not in '"\\') or "photo"
            params["ResponseContentDisposition"] = (
                f"inline; filename=\"{ascii_name}\"; filename*=UTF-8''{urllib.parse.quote(filename, safe='')}"
            )
        return self._presign_client.generate_presigned_url("get_object", Params=params, ExpiresIn=int(expires_in))

    # -- multipart -------------------------------------------------------------------------------

    def begin_multipart(self, *, content_type: str | None = None) -> MultipartUpload:
        """Create an S3 multipart upload targeting a fresh staging key."""
        staging_key = STAGING_PREFIX + secrets.token_hex(16)
        extra: dict[str, Any] = {"ContentType": content_type} if content_type else {}
        response = self.client.create_multipart_upload(Bucket=self.bucket, Key=self._object_key(staging_key), **extra)
        return MultipartUpload(upload_id=response["UploadId"], staging_key=staging_key)

    def upload_part(self, upload: MultipartUpload, number: int, data: bytes) -> Part:
        """Send one part (``UploadPart``) with its SHA-256 for S3 to check."""
        if not 1 <= number <= 10_000:
            raise StoreError(f"part number {number} out of range 1..10000")
        try:
            response = self.client.upload_part(
                Bucket=self.bucket,
                Key=self._object_key(upload.staging_key),
                UploadId=upload.upload_id,
                PartNumber=number,
                Body=bytes(data),
            )
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) == "NoSuchUpload":
                raise ObjectNotFound(f"no multipart upload {upload.upload_id}") from None
            raise
        return Part(number=number, etag=response["ETag"], size=len(data))

    def complete_multipart(self, upload: MultipartUpload, parts: list[Part]) -> int:
        """``CompleteMultipartUpload``; an upload with no parts gets one empty part first."""
        object_key = self._object_key(upload.staging_key)
        if not parts:
            parts = [self.upload_part(upload, 1, b"")]
        ordered = sorted(parts, key=lambda p: p.number)
        try:
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=object_key,
                UploadId=upload.upload_id,
                MultipartUpload={"Parts": [{"ETag": p.etag, "PartNumber": p.number} for p in ordered]},
            )
        except ClientError as exc:
            # A retry after a crash between completing and recording it: the object is there.
            if str(exc.response.get("Error", {}).get("Code")) == "NoSuchUpload" and self.exists(upload.staging_key):
                return self.size(upload.staging_key)
            raise
        return self.size(upload.staging_key)

    def abort_multipart(self, upload: MultipartUpload) -> None:
        """``AbortMultipartUpload`` (ignoring an already finished one) and drop any staging object."""
        try:
            self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=self._object_key(upload.staging_key), UploadId=upload.upload_id
            )
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) not in {"NoSuchUpload", *_NOT_FOUND}:
                raise
        self.delete(upload.staging_key)

    def promote(self, staging_key: str, key: str, *, content_type: str | None = None) -> bool:
        """Server-side copy of the staging object to its content address, then delete the staging one."""
        check_content_key(key)
        source = self._object_key(staging_key)
        created = False
        if not self.exists(key):
            extra: dict[str, Any] = (
                {"ContentType": content_type, "MetadataDirective": "REPLACE"} if content_type else {}
            )
            try:
                self.client.copy_object(
                    Bucket=self.bucket,
                    Key=self._object_key(key),
                    CopySource={"Bucket": self.bucket, "Key": source},
                    **extra,
                )
            except ClientError as exc:
                if _not_found(exc):
                    raise ObjectNotFound(staging_key) from None
                raise
            created = True
        self.delete(staging_key)
        return created

    def close(self) -> None:
        """Close the HTTP connection pools."""
        self.client.close()
        if self._presign_client is not self.client:
            self._presign_client.close()
