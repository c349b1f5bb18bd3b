"""The lab's wire codecs and the scanner's, written apart, agree on the wire.

The lab keeps its own BER and BSON (`lab/services/ber.py`, `lab/services/bson.py`) as an
oracle: a bug in the scanner's codec must not be mirrored by the servers it is tested
against. Here each side encodes and the other decodes, for what the lab's LDAP and MongoDB
servers read from the scanner and send back to it, so the two cannot drift apart unseen.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest

from utsyn.lab.manifest import Host
from utsyn.lab.services import ber as lab_ber
from utsyn.lab.services import bson as lab_bson
from utsyn.lab.services.common import Uptime
from utsyn.lab.services.ldap import ldap_root_dse, ldap_search_reply
from utsyn.lab.services.mongodb import MongoServer, mongo_command, mongo_response
from utsyn.scan.services import ber as scan_ber
from utsyn.scan.services import bson as scan_bson
from utsyn.scan.services.ldap import ldap_answer, ldap_root_dse_request
from utsyn.scan.services.mongodb import mongo_msg, mongo_query, mongo_reply

_OP_QUERY, _OP_MSG = 2004, 2013

# Both length forms, and long lengths of one, two and three bytes.
SIZES = [0, 1, 127, 128, 255, 256, 65535, 65536]


def _content(size: int) -> bytes:
    return bytes(i % 251 for i in range(size))


@pytest.mark.parametrize("size", SIZES)
def test_ber_values_of_every_length_form_read_alike_both_ways(size: int) -> None:
    content = _content(size)
    for tag in (0x04, 0x30, 0x63, 0x87):
        assert scan_ber.ber_items(lab_ber.ber(tag, content)) == [(tag, content)]
        assert lab_ber.ber_items(scan_ber.ber(tag, content)) == [(tag, content)]


def test_nested_ber_reads_alike_both_ways() -> None:
    for encode, decode in ((lab_ber.ber, scan_ber.ber_items), (scan_ber.ber, lab_ber.ber_items)):
        inner = encode(0x04, b"vendorVersion") + encode(0x31, encode(0x04, _content(300)))
        (tag, outer), *rest = decode(encode(0x30, inner) + encode(0x0A, b"\x00"))
        assert (tag, rest) == (0x30, [(0x0A, b"\x00")])
        assert decode(outer) == [(0x04, b"vendorVersion"), (0x31, encode(0x04, _content(300)))]


@pytest.mark.parametrize("code", [0, 1, 48, 49, 127, 128, 255, 256])
def test_the_labs_integers_read_as_the_scanner_reads_a_result_code(code: int) -> None:
    done = lab_ber.ber(0x65, lab_ber.ber_int(code, 0x0A) + lab_ber.ber(0x04, b"") * 2)
    message = lab_ber.ber(0x30, lab_ber.ber_int(1) + done)
    assert ldap_answer([message]).details["result_code"] == code


@pytest.mark.parametrize(
    ("version", "naming_context"),
    [
        ("389-Directory/1.4.4.17 B2021.224.1647", "dc=fjordvik,dc=test"),
        ("OpenLDAP/2.4.57", ",".join(f"dc=label{i}" for i in range(40))),  # long lengths
    ],
)
def test_the_scanners_root_dse_search_and_the_labs_answer(
    version: str, naming_context: str
) -> None:
    # The scanner's request, read as the lab's LDAP server reads it.
    ((tag, content),) = lab_ber.ber_items(ldap_root_dse_request())
    (_, raw_id), (op, search) = lab_ber.ber_items(content)
    assert (tag, op) == (0x30, 0x63)
    message_id = int.from_bytes(raw_id, "big", signed=True)
    reply = ldap_search_reply(message_id, search, ldap_root_dse(version, naming_context))
    # The lab's answer, read as the scanner's LDAP probe reads it.
    messages = [scan_ber.ber(tag, value) for tag, value in scan_ber.ber_items(reply)]
    answer = ldap_answer(messages)
    assert answer.banner == version
    assert answer.details == {
        "root_dse_readable": True,
        "vendor_name": ldap_root_dse(version, naming_context)["vendorName"][0],
        "naming_contexts": [naming_context],
        "result_code": 0,
    }


def _as_scanner_reads(value: Any) -> Any:
    """What the scanner's decoder gives for a value the lab encodes."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)  # UTC datetime: milliseconds since the epoch
    if isinstance(value, bytes):
        return None  # binary is skipped by the scanner (the lab's replies carry none)
    if isinstance(value, dict):
        return {key: _as_scanner_reads(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_scanner_reads(item) for item in value]
    return value


def test_every_bson_type_the_lab_encodes_reads_alike_in_the_scanner() -> None:
    document: lab_bson.BsonDocument = {
        "yes": True,
        "no": False,
        "int32": 2**31 - 1,
        "negative": -(2**31),
        "int64": 2**40,
        "double": 1.5,
        "text": "Fjordvik kommune æøå",
        "long text": "x" * 300,
        "null": None,
        "when": datetime(2024, 5, 17, 12, 0, tzinfo=UTC),
        "binary": b"\x00\x01",
        "document": {"nested": {"deeper": [1, "two", {"three": 3.0}]}},
        "array": ["devnull", "wiredTiger"],
        "empty": [],
    }
    assert scan_bson.bson_decode(lab_bson.bson_encode(document)) == _as_scanner_reads(document)


@pytest.mark.parametrize(
    "command",
    [{"isMaster": 1}, {"buildInfo": 1}, {"buildInfo": 1, "$db": "admin"}, {"x": "æøå" * 50}],
)
def test_the_scanners_bson_reads_alike_in_the_lab(command: dict[str, int | str]) -> None:
    assert lab_bson.bson_decode(scan_bson.bson_document(command)) == command


def _lab_reads(request: bytes) -> tuple[int, lab_bson.BsonDocument]:
    """The op code and command of a request, as the lab's MongoDB server reads them."""
    op_code = int.from_bytes(request[12:16], "little", signed=True)
    return op_code, mongo_command(op_code, request[16:])


@pytest.mark.parametrize("version", ["3.4.24", "4.4.6", "7.0.5"])
def test_the_scanners_mongodb_exchange_and_the_labs_answers(version: str) -> None:
    server = MongoServer(version, Host(name="db.fjordvik.test"), Uptime(), itertools.count(1))
    requests = [
        (mongo_query(1, {"isMaster": 1}), {"isMaster": 1}),
        (mongo_query(2, {"buildInfo": 1}), {"buildInfo": 1}),
        (mongo_msg(2, {"buildInfo": 1}), {"buildInfo": 1, "$db": "admin"}),
        (mongo_msg(3, {"serverStatus": 1}), {"serverStatus": 1, "$db": "admin"}),
        (mongo_msg(4, {"listDatabases": 1}), {"listDatabases": 1, "$db": "admin"}),
        (mongo_msg(5, {"noSuchCommand": 1}), {"noSuchCommand": 1, "$db": "admin"}),
    ]
    for request, expected in requests:
        op_code, command = _lab_reads(request)
        assert command == expected
        answer = server.answer(command, 7, "127.0.0.1:40000")
        reply = mongo_response(op_code, 9, 1, answer)
        assert mongo_reply(reply) == _as_scanner_reads(answer)
    assert _lab_reads(requests[0][0])[0] == _OP_QUERY
    assert _lab_reads(requests[2][0])[0] == _OP_MSG
