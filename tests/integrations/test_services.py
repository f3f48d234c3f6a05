"""Recording rows: masking, compression, failures that must not break the exchange, and pruning."""

import datetime as dt
import json

import pytest
from django.utils import timezone

from apps.core.redaction import MASK, mask_data, mask_fields, mask_text
from apps.integrations.models import BodyFormat, Channel, Direction, DocumentLog, Outcome
from apps.integrations.services import DocumentExchange, document_log_prune, record_exchange
from tests.integrations.documents import setup_request
from tests.punchout.support import CXML_URL

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "document",
    [
        "<SharedSecret>s3cret-value</SharedSecret>",
        '<SharedSecret xml:lang="en">s3cret-value</SharedSecret>',
        "<SharedSecret><![CDATA[s3cret-value]]></SharedSecret>",
        "<SharedSecret>\n  s3cret-value\n</SharedSecret >",
        "<cxml:SharedSecret>s3cret-value</cxml:SharedSecret>",
        '<CredentialMac type="FromSenderCredentials" algorithm="HMAC-SHA1-96">s3cret-value</CredentialMac>',
        "USERNAME=acme&PASSWORD=s3cret-value&HOOK_URL=x",
        "https://b2b.example.com/punchout/oci/?password=s3cret-value",
        "Authorization: Bearer s3cret-value-123",
    ],
)
def test_mask_text_hides_secret(document):
    masked = mask_text(document)

    assert "s3cret-value" not in masked
    assert MASK in masked


def test_mask_keeps_document_shape():
    masked = mask_text("<Sender><Credential><Identity>AN01</Identity><SharedSecret>x</SharedSecret></Credential>")

    assert masked == "<Sender><Credential><Identity>AN01</Identity><SharedSecret>********</SharedSecret></Credential>"


def test_mask_fields_and_data_hide_secret_keys():
    fields = mask_fields([("USERNAME", "acme"), ("PASSWORD", "pw"), ("NEW_ITEM-PRICE[1]", "9.50")])
    data = mask_data({"api_key": "k", "nested": [{"Authorization": "Bearer k"}, {"token_hash": "h"}], "n": 1})

    assert fields == [("USERNAME", "acme"), ("PASSWORD", MASK), ("NEW_ITEM-PRICE[1]", "9.50")]
    assert data == {"api_key": MASK, "nested": [{"Authorization": MASK}, {"token_hash": "h"}], "n": 1}


def test_large_body_is_stored_compressed(settings):
    # given a body above the compression threshold
    settings.INTEGRATION_LOG_COMPRESS_BYTES = 100
    body = "<cXML>" + "<Item>pen</Item>" * 50 + "<SharedSecret>hidden</SharedSecret></cXML>"

    # when it is recorded
    row = record_exchange(
        DocumentExchange(
            direction=Direction.INBOUND,
            channel=Channel.CXML,
            document_type="OrderRequest",
            request_body=body,
            request_format=BodyFormat.XML,
            response_body="<cXML/>",
            response_format=BodyFormat.XML,
        )
    )

    # then the text is kept compressed and reads back masked
    row.refresh_from_db()
    assert row.request_body == ""
    assert row.request_body_gz is not None
    assert len(bytes(row.request_body_gz)) < len(body)
    assert row.request_text == body.replace("hidden", MASK)
    assert row.response_body == "<cXML/>"
    assert row.response_body_gz is None


def test_body_above_maximum_is_cut(settings):
    settings.INTEGRATION_LOG_MAX_BODY_BYTES = 50
    row = record_exchange(
        DocumentExchange(direction=Direction.OUTBOUND, channel=Channel.WEBHOOK, request_body="x" * 80)
    )

    assert row.request_text.startswith("x" * 50 + "\n… cut at 50 of 80 bytes")


def test_json_body_is_masked_and_kept_as_json():
    row = record_exchange(
        DocumentExchange(
            direction=Direction.INBOUND,
            channel=Channel.API,
            document_type="orders.create",
            request_body=b'{"po_number": "PO-1", "password": "pw", "lines": []}',
            request_format=BodyFormat.JSON,
        )
    )

    assert json.loads(row.request_text) == {"po_number": "PO-1", "password": MASK, "lines": []}


def test_nul_in_body_is_stored_as_escape():
    # PostgreSQL text cannot hold NUL; a hostile request's body must still be logged.
    row = record_exchange(
        DocumentExchange(
            direction=Direction.INBOUND,
            channel=Channel.API,
            document_type="orders.create",
            request_body=b'{"po_number": "PO-\x00"',
            request_format=BodyFormat.JSON,
        )
    )

    assert row is not None
    row.refresh_from_db()
    assert row.request_text == '{"po_number": "PO-\\u0000"'


def test_failed_insert_returns_none_and_logs(monkeypatch, caplog):
    # given a database that rejects the row
    def broken_save(self, *args, **kwargs):
        raise RuntimeError("database unavailable")

    monkeypatch.setattr(DocumentLog, "save", broken_save)

    # when an exchange is recorded
    row = record_exchange(DocumentExchange(direction=Direction.INBOUND, channel=Channel.CXML, document_type="x"))

    # then nothing is raised, and the failure is logged with its traceback
    assert row is None
    assert "Document log row could not be written" in caplog.text
    assert "database unavailable" in caplog.text


def test_failed_insert_inside_transaction_keeps_the_transaction(django_assert_num_queries):
    # given an exchange whose row violates a constraint, recorded inside the caller's transaction
    from django.db import transaction

    from apps.catalog.models import Warehouse

    with transaction.atomic():
        Warehouse.objects.create(code="KEEP", name="kept")
        row = record_exchange(DocumentExchange(direction="sideways", channel=Channel.CXML, document_type="x"))
        Warehouse.objects.create(code="KEEP2", name="kept too")

    # then the caller's writes before and after are committed
    assert row is None
    assert Warehouse.objects.filter(code__in=["KEEP", "KEEP2"]).count() == 2


def test_setup_request_answers_when_log_fails(client, monkeypatch, demo):
    # given a document log that cannot be written
    def broken_save(self, *args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(DocumentLog, "save", broken_save)

    # when a buyer sends the demo setup request
    response = client.post(CXML_URL, data=setup_request(), content_type="text/xml")

    # then the buyer gets its StartPage as usual
    assert b'<Status code="200"' in response.content
    assert b"<StartPage>" in response.content


def test_prune_deletes_rows_past_retention_in_batches(settings, django_assert_num_queries):
    # given five rows older than the retention period and one inside it
    settings.INTEGRATION_LOG_RETENTION_DAYS = 30
    now = timezone.now()
    for age in (31, 40, 45, 90, 400):
        DocumentLog.objects.create(
            created_at=now - dt.timedelta(days=age),
            direction=Direction.INBOUND,
            channel=Channel.CXML,
            document_type="old",
            outcome=Outcome.SUCCEEDED,
        )
    kept = DocumentLog.objects.create(
        created_at=now - dt.timedelta(days=29),
        direction=Direction.INBOUND,
        channel=Channel.CXML,
        document_type="recent",
        outcome=Outcome.SUCCEEDED,
    )

    # when the log is pruned two rows at a time
    deleted = document_log_prune(now=now, batch_size=2)

    # then the old rows are gone in three batches and the recent one stays
    assert deleted == 5
    assert list(DocumentLog.objects.values_list("pk", flat=True)) == [kept.pk]


def test_prune_task_uses_settings(settings):
    from apps.integrations.tasks import prune_document_log

    settings.INTEGRATION_LOG_RETENTION_DAYS = 1
    DocumentLog.objects.create(
        created_at=timezone.now() - dt.timedelta(days=2),
        direction=Direction.INBOUND,
        channel=Channel.CXML,
        document_type="old",
        outcome=Outcome.SUCCEEDED,
    )

    assert prune_document_log.delay().get() == 1
    assert DocumentLog.objects.count() == 0
