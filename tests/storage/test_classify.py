"""classify(): the exceptions the backend libraries really raise (built with their own classes) map to error types."""

from __future__ import annotations

import pytest
from aiohttp import ClientConnectorError, ClientOSError, ClientPayloadError
from aiohttp.client_reqrep import ConnectionKey
from aiohttp.http_exceptions import ContentLengthError
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError
from botocore.exceptions import ClientError  # type: ignore[import-untyped]  # botocore ships no types
from gcsfs.retry import HttpError
from requests.exceptions import ProxyError
from s3fs.errors import translate_boto_error

from kafka_backup.engine.errors import (
    StorageAuthError,
    StorageError,
    StorageNotFoundError,
    StorageQuotaError,
    StorageTimeoutError,
    StorageUnavailableError,
)
from kafka_backup.engine.store.classify import classify, missing_bucket_error


def _boto(code: str, status: int) -> BaseException:
    """What s3fs raises for a botocore ClientError: its translation, raised from the original."""
    error = ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op"
    )
    try:
        try:
            raise error
        except ClientError as exc:
            raise translate_boto_error(exc) from exc
    except Exception as translated:
        return translated
    raise AssertionError("unreachable")


def _azure(cls: type[HttpResponseError], status: int, text: str, code: str | None = None) -> BaseException:
    exc = cls(message=text)
    exc.status_code = status
    exc.error_code = code  # type: ignore[attr-defined]  # what azure.storage.blob sets on the errors it raises
    return exc


class TestClassify:
    @pytest.mark.parametrize(
        ("exc", "expected"),
        [
            (_boto("AccessDenied", 403), StorageAuthError),
            (_boto("InvalidAccessKeyId", 403), StorageAuthError),
            (_boto("NoSuchKey", 404), StorageNotFoundError),
            (_boto("SlowDown", 503), StorageQuotaError),
            (_boto("ServiceUnavailable", 503), StorageUnavailableError),
            (_boto("InternalError", 500), StorageUnavailableError),
            (_boto("ClientDisconnected", 400), StorageUnavailableError),  # MinIO shutting down
            (HttpError({"code": 401, "message": "Invalid Credentials"}), StorageAuthError),
            (HttpError({"code": 403, "message": "x does not have storage.objects.get access"}), StorageAuthError),
            (HttpError({"code": 429, "message": "rate limited"}), StorageQuotaError),
            (HttpError({"code": 503, "message": "backend error"}), StorageUnavailableError),
            (HttpError({"code": 408, "message": "request timeout"}), StorageTimeoutError),
            (_azure(ClientAuthenticationError, 403, "AuthenticationFailed"), StorageAuthError),
            (_azure(HttpResponseError, 503, "ServerBusy", "ServerBusy"), StorageQuotaError),
            (_azure(HttpResponseError, 503, "The server is unavailable"), StorageUnavailableError),
            (ProxyError(), StorageUnavailableError),
            (ServiceRequestError("Cannot connect to host 127.0.0.1:1"), StorageUnavailableError),
            (FileNotFoundError("bucket/key"), StorageNotFoundError),
            (TimeoutError(), StorageTimeoutError),
        ],
        ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else v.__name__,
    )
    def test_library_exceptions(self, exc: BaseException, expected: type[StorageError]) -> None:
        """Each library's own exception maps to the documented error type."""
        error = classify(exc, key="k", action="read segment")
        assert type(error) is expected
        assert error.key == "k"
        assert error.message.startswith("could not read segment 'k': ")

    def test_numbers_in_a_key_do_not_decide(self) -> None:
        """A connection failure naming an object with 401/404 in it stays retryable, not auth or not_found."""
        key = ConnectionKey("127.0.0.1", 9, False, True, None, None, None)
        exc = ClientConnectorError(key, OSError(111, "Connect call failed /topics/t/segment-401-404.parquet"))
        error = classify(exc, key="topics/t/segment-401-404.parquet", action="write segment")
        assert isinstance(error, StorageUnavailableError)
        assert error.retryable

    def test_throttling_words_in_a_key_do_not_decide(self) -> None:
        """A 503 on an object named like a throttling code is unavailable; only the service's error code says quota."""
        error = classify(_azure(HttpResponseError, 503, "topics/SlowDown-ServerBusy/x"), key="k", action="write")
        assert isinstance(error, StorageUnavailableError)
        assert isinstance(classify(_boto("SlowDown", 503), key="k", action="write"), StorageQuotaError)

    def test_missing_bucket_hint(self) -> None:
        """The missing-bucket error names the bucket and the command that creates it, per backend."""
        s3 = missing_bucket_error("s3", "backups", action="list", key="")
        assert "the bucket 'backups' does not exist" in str(s3)
        assert "aws s3 mb s3://backups" in str(s3)
        azure = missing_bucket_error("azure", "backups", action="write segment", key="k")
        assert "the container 'backups' does not exist" in str(azure)
        assert "az storage container create --name backups" in str(azure)
        assert not azure.retryable
        assert azure.error_type == "not_found"


class TestTruncatedResponses:
    def test_response_cut_short_is_retryable(self) -> None:
        """A body cut short, or a request broken off, by a server going away is transient, so it is retried."""
        cause = ContentLengthError("Not enough data to satisfy content length header (received 512 of 7386 bytes).")
        upload = ClientOSError(None, "Can not write request body for http://127.0.0.1:1/upload/storage/v1/b/x/o")
        for exc in (cause, ClientPayloadError("Response payload is not completed", cause), upload):
            error = classify(exc, key="b/topics/t/0/manifest.json", action="read manifest")
            assert isinstance(error, StorageUnavailableError), (exc, error)
            assert error.retryable
