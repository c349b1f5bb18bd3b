"""Elasticsearch and OpenSearch: GET / names the version unless security is enabled."""

from __future__ import annotations

import json
import re
from typing import Any

from utsyn.scan.family import ScanContext
from utsyn.scan.model import ServiceTarget, excerpt
from utsyn.scan.services.exchange import (
    READ_LIMIT,
    Answer,
    ProtocolMismatch,
    connect,
    mismatch,
    read_until,
)


async def probe(target: ServiceTarget, scan: ScanContext) -> Answer:
    request = (
        f"GET / HTTP/1.1\r\nHost: {target.host}:{target.port}\r\n"
        f"User-Agent: {scan.config.user_agent}\r\nAccept: application/json\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    async with connect(target, scan) as (reader, writer):
        writer.write(request)
        response = await read_until(scan, reader, _http_complete, READ_LIMIT)
    return elasticsearch_answer(response)


def _http_complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    match = re.search(rb"(?im)^content-length:\s*(\d{1,9})\s*$", head)
    return match is not None and len(body) >= int(match[1])


def elasticsearch_answer(response: bytes) -> Answer:
    head, _, body = response.partition(b"\r\n\r\n")
    status = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    if status is None:
        raise ProtocolMismatch(mismatch("an HTTP answer", response))
    code = int(status[1])
    if code == 401:  # security enabled: the version is not shown to strangers
        realm = b'realm="security"' in head
        protocol = "elasticsearch" if realm else "http"
        return Answer(protocol, "GET /", None, {"auth_required": True, "status": code}, head)
    document = _json_object(body)
    version = document.get("version") if document else None
    number = version.get("number") if isinstance(version, dict) else None
    if not isinstance(number, str) or not re.fullmatch(r"[\w.+-]{1,40}", number):
        return Answer("http", "GET /", None, {"status": code}, head)  # HTTP, but not this
    # OpenSearch answers in Elasticsearch's dialect: the same kind, another product.
    distribution = version.get("distribution") if isinstance(version, dict) else None
    family = "opensearch" if distribution == "opensearch" else "elasticsearch"
    details = {
        "auth_required": False,
        "cluster_name": _json_text(document, "cluster_name"),
        "distribution": family,
    }
    return Answer("elasticsearch", "GET /", number, details, response[:1024], family)


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body.decode("utf-8", "replace"))
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _json_text(document: dict[str, Any] | None, key: str) -> str | None:
    value = document.get(key) if document else None
    return excerpt(value, 200) if isinstance(value, str) else None
