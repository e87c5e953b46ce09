"""Tests of the redaction processor on its own."""

from __future__ import annotations

import time

from kafka_backup.telemetry.redact import REDACTED, Redactor


class TestRedactor:
    def test_secret_keys(self) -> None:
        """Values under password, token, authorization and *key* keys are masked; others are kept."""
        event = Redactor()(
            None,
            "info",
            {"password": "a", "Authorization": "Bearer x", "ssl.key.pem": "k", "api_key": "k", "topic": "orders"},
        )
        assert event == {
            "password": REDACTED,
            "Authorization": REDACTED,
            "ssl.key.pem": REDACTED,
            "api_key": REDACTED,
            "topic": "orders",
        }

    def test_nested_structures(self) -> None:
        """Dicts and lists inside the event are walked."""
        event = Redactor()(None, "info", {"config": {"sasl.password": "p", "items": ["token=abc", "ok"]}})
        assert event == {"config": {"sasl.password": REDACTED, "items": [f"token={REDACTED}", "ok"]}}

    def test_inline_pairs(self) -> None:
        """name=value and 'Authorization: Bearer x' pairs inside strings are masked, other pairs kept."""
        text = Redactor().redact_text("sasl.password=hunter2 acks=all Authorization: Bearer abc.def, ok")
        assert text == f"sasl.password={REDACTED} acks=all Authorization: {REDACTED}, ok"

    def test_registered_values_anywhere(self) -> None:
        """A registered value is masked wherever it appears; very short values are ignored."""
        redactor = Redactor(["correct-horse", "ab"])
        assert redactor.redact_text("x correct-horse y ab") == f"x {REDACTED} y ab"

    def test_quoted_header_dumps(self) -> None:
        """botocore's header dict: the session token and the Authorization header are masked, other headers kept."""
        text = Redactor().redact_text(
            "headers={'X-Amz-Date': b'20261202T073900Z', 'X-Amz-Security-Token': b'IQoJb3JpZ2lu', "
            "'Authorization': b'AWS4-HMAC-SHA256 Credential=AKIAX/20261202/us-east-1/s3/aws4_request, "
            "SignedHeaders=host, Signature=0123abcd'}>"
        )
        assert text == (
            f"headers={{'X-Amz-Date': b'20261202T073900Z', 'X-Amz-Security-Token': b'{REDACTED}', "
            f"'Authorization': b'{REDACTED}'}}>"
        )

    def test_unquoted_authorization_schemes(self) -> None:
        """AWS4 and Azure SharedKey authorization values are masked with their scheme word."""
        redactor = Redactor()
        assert redactor.redact_text("Authorization: SharedKey acct:c2ln ok") == f"Authorization: {REDACTED} ok"
        assert redactor.redact_text("Authorization: AWS4-HMAC-SHA256 Credential=AKIAX/x, Signature=9f") == (
            f"Authorization: {REDACTED}, Signature={REDACTED}"
        )

    def test_signed_query_parameters(self) -> None:
        """Presigned S3 URLs and Azure SAS URLs lose their signature, credential and token, keep the rest."""
        redactor = Redactor()
        s3 = "https://h/k?X-Amz-Algorithm=AWS4&X-Amz-Credential=AKIA%2Fx&X-Amz-Signature=beef&X-Amz-Security-Token=t0k"
        assert redactor.redact_text(s3) == (
            f"https://h/k?X-Amz-Algorithm=AWS4&X-Amz-Credential={REDACTED}&X-Amz-Signature={REDACTED}"
            f"&X-Amz-Security-Token={REDACTED}"
        )
        sas = "GET https://a.blob.core.windows.net/c/b?sv=2021-08-06&sig=abc%2Fdef%3D&se=2026-12-03 HTTP/1.1"
        assert redactor.redact_text(sas) == (
            f"GET https://a.blob.core.windows.net/c/b?sv=2021-08-06&sig={REDACTED}&se=2026-12-03 HTTP/1.1"
        )

    def test_azure_headers(self) -> None:
        """x-ms-* headers carrying keys or authorization are masked; x-ms-version is not."""
        text = Redactor().redact_text("{'x-ms-copy-source-authorization': 'Bearer abc', 'x-ms-version': '2021'}")
        assert text == f"{{'x-ms-copy-source-authorization': '{REDACTED}', 'x-ms-version': '2021'}}"

    def test_url_credentials(self) -> None:
        """user:password@ in any URL is masked as a whole; the host and path stay readable."""
        text = Redactor().redact_text("open s3://AKIAKEY:SECRETVALUE@bucket/p and https://u:pa55@host:9000/x")
        assert text == f"open s3://{REDACTED}@bucket/p and https://{REDACTED}@host:9000/x"

    def test_s3_object_keys_are_not_secrets(self) -> None:
        """S3's Key parameter (an object name) stays readable in debug lines; s3fs's lower-case key does not."""
        text = Redactor().redact_text("{'Bucket': 'b', 'Key': 'topics/t/0/manifest.json', 'key': 'AKIAEXAMPLE'}")
        assert text == f"{{'Bucket': 'b', 'Key': 'topics/t/0/manifest.json', 'key': '{REDACTED}'}}"

    def test_registered_value_percent_encoded(self) -> None:
        """A registered token is also masked in its percent-encoded form (query strings)."""
        redactor = Redactor(["tok/en+1=="])
        assert redactor.redact_text("a tok/en+1== b tok%2Fen%2B1%3D%3D") == f"a {REDACTED} b {REDACTED}"

    def test_unterminated_quote_masks_to_the_end(self) -> None:
        """A quoted secret value without its closing quote is masked to the end of the text, not left visible."""
        assert Redactor().redact_text("token='abc def") == f"token='{REDACTED}"


class TestLinearTime:
    """Every rule's cost grows linearly with its input: 8x the input costs far less than 64x the CPU time."""

    # Adversarial shapes for each rule: long runs without separators, repeated names, open quotes, URL prefixes.
    SHAPES = ("k", "token=", "token='", "'key':", "a:", "x://", "s3://u:", "Bearer ", "sig=&")

    @staticmethod
    def _cpu_seconds(redactor: Redactor, text: str) -> float:
        """The least thread CPU time of three runs (CPU time, not wall clock: other processes do not count)."""
        best = float("inf")
        for _ in range(3):
            start = time.thread_time()
            redactor.redact_text(text)
            best = min(best, time.thread_time() - start)
        return best

    def test_long_input_is_linear(self) -> None:
        """For every shape, redacting 8n characters costs under 24x redacting n (quadratic would be 64x)."""
        redactor = Redactor(["correct-horse-battery", "another-secret-value"])
        n = 2_000  # small enough that a quadratic rule fails in seconds instead of hanging the suite
        for shape in self.SHAPES:
            small = (shape * (n // len(shape) + 1))[:n]
            large = (shape * (8 * n // len(shape) + 1))[: 8 * n]
            # a floor keeps timer resolution out of the ratio for shapes that are very cheap at size n
            ratio = self._cpu_seconds(redactor, large) / max(self._cpu_seconds(redactor, small), 1e-4)
            assert ratio < 24, f"{shape!r}: 8x the input took {ratio:.1f}x the time"
