"""Which failures are worth a retry (transient) and which are a poison record's (fail alone)."""
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from automations.errors import is_transient, reason_of
from automations.inputs import MAX_ID, parse_whole


def _client_error(code, reasons=None):
    response = {"Error": {"Code": code, "Message": "m"}}
    if reasons is not None:
        response["CancellationReasons"] = [{"Code": r} for r in reasons]
    return ClientError(response, "TransactWriteItems")


@pytest.mark.parametrize("error", [
    _client_error("ProvisionedThroughputExceededException"), _client_error("ThrottlingException"),
    _client_error("InternalServerError"), _client_error("TransactionCanceledException", ["None", "ThrottlingError"]),
    _client_error("TransactionCanceledException", ["TransactionConflict", "None"]),
    EndpointConnectionError(endpoint_url="https://dynamodb"), ReadTimeoutError(endpoint_url="https://dynamodb"),
    ConnectionError("reset"), TimeoutError("slow"),
])
def test_outages_and_throttling_are_transient(error):
    assert is_transient(error)


@pytest.mark.parametrize("error", [
    _client_error("ValidationException"), _client_error("ConditionalCheckFailedException"),
    _client_error("TransactionCanceledException", ["ConditionalCheckFailed", "None"]),
    UnicodeEncodeError("utf-8", "\ud83d", 0, 1, "surrogates not allowed"), ValueError("Exceeds the limit (4300 digits)"),
    KeyError("custom_field_id"), OverflowError("int too large to convert to float"),
])
def test_what_the_same_input_meets_again_is_not(error):
    assert not is_transient(error)


def test_a_reason_is_bounded():
    assert reason_of(ValueError("5" * 5000)).startswith("ValueError: 555") and len(reason_of(ValueError("5" * 5000))) == 500


@pytest.mark.parametrize("text, number", [("42", 42), ("", None), ("5" * 5000, None), ("\u00b9", None), ("\u0661", None),
                                          ("-1", None), ("9" * 15, MAX_ID), ("1" * 16, None)])
def test_ids_are_read_without_int_failing(text, number):
    assert parse_whole(text, MAX_ID) == number
