"""Elasticsearch without security: GET / names the version and the build."""

from __future__ import annotations

import base64
import json
import uuid

from utsyn.lab.context import LabContext
from utsyn.lab.manifest import Host, Service
from utsyn.lab.services.common import MAX_REQUESTS, banner, short_name, stable_hex, version_tuple
from utsyn.lab.session import ProtocolViolation, Serve, Session

# Build facts of releases the lab is likely to show; others get plausible derived values.
_ES_BUILDS = {
    "7.10.2": ("747e1cc71def077253878a59143c1f785afa92b9", "2021-01-13T00:42:12.435326Z", "8.7.0"),
}
_ES_LUCENE = {5: "6.6.1", 6: "7.7.3", 7: "8.11.1", 8: "9.8.0"}
_ES_COMPAT = {5: ("2.4.0", "2.0.0"), 6: ("5.6.0", "5.0.0"), 7: ("6.8.0", "6.0.0-beta1")}
_MAX_HTTP_HEADER_LINES = 100


def elasticsearch_root(version: str, host: Host) -> dict[str, object]:
    """The document GET / returns: how scanners and nmap read the version."""
    major = (version_tuple(version) or (7,))[0]
    build_hash, build_date, lucene = _ES_BUILDS.get(
        version,
        (stable_hex("es" + version, 40), "2023-01-01T00:00:00.000000Z", _ES_LUCENE.get(major, "")),
    )
    wire, index = _ES_COMPAT.get(major, ("7.17.0", "7.0.0"))
    # Elasticsearch shows a 22-character URL-safe base64 id; a stable one per host.
    cluster_uuid = base64.urlsafe_b64encode(uuid.uuid5(uuid.NAMESPACE_DNS, host.name).bytes)
    return {
        "name": short_name(host),
        "cluster_name": "elasticsearch",
        "cluster_uuid": cluster_uuid.decode()[:22],
        "version": {
            "number": version,
            "build_flavor": "default",
            "build_type": "deb",
            "build_hash": build_hash,
            "build_date": build_date,
            "build_snapshot": False,
            "lucene_version": lucene,
            "minimum_wire_compatibility_version": wire,
            "minimum_index_compatibility_version": index,
        },
        "tagline": "You Know, for Search",
    }


def _es_json(document: object) -> bytes:
    # Jackson's pretty printer, which Elasticsearch uses for "/": `"key" : value`.
    return (json.dumps(document, indent=2, separators=(",", " : ")) + "\n").encode()


def _es_route(method: str, path: str, root: dict[str, object]) -> tuple[int, str, bytes]:
    """(status, content type, body) for one request, as Elasticsearch 7 answers it."""
    path = path.split("?", 1)[0]
    json_type = "application/json; charset=UTF-8"
    if path == "/" and method in ("GET", "HEAD"):
        return 200, json_type, _es_json(root)
    if path == "/_cluster/health":
        health = {"cluster_name": "elasticsearch", "status": "green", "number_of_nodes": 1}
        return 200, json_type, json.dumps(health).encode()
    if path == "/_cat/indices":
        return 200, "text/plain; charset=UTF-8", b""
    if path.startswith("/_") or path == "/":
        error = f"no handler found for uri [{path[:200]}] and method [{method}]"
        return 400, json_type, json.dumps({"error": error, "status": 400}).encode()
    index = path.strip("/").split("/", 1)[0][:200]
    cause = {
        "type": "index_not_found_exception",
        "reason": f"no such index [{index}]",
        "index": index,
    }
    error_doc = {"error": {"root_cause": [cause], **cause}, "status": 404}
    return 404, json_type, json.dumps(error_doc).encode()


async def _http_request(s: Session) -> tuple[str, str, str, dict[str, str]]:
    """Method, path, version and headers of one request; its body is read and dropped."""
    method, path, version = (await s.read_line()).decode("latin-1").split()
    if not version.startswith("HTTP/1."):
        raise ProtocolViolation("not HTTP/1.x")
    headers: dict[str, str] = {}
    for _ in range(_MAX_HTTP_HEADER_LINES):
        line = (await s.read_line()).decode("latin-1").strip()
        if not line:
            break
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    else:
        raise ProtocolViolation("too many header lines")
    body_length = int(headers.get("content-length", "0"))
    if body_length:
        await s.read_exactly(body_length)
    return method, path, version, headers


_HTTP_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found"}


def server(service: Service, host: Host, ctx: LabContext) -> Serve:
    root = elasticsearch_root(banner(service), host)

    async def session(s: Session) -> None:
        for _ in range(MAX_REQUESTS):
            method, path, version, headers = await _http_request(s)
            status, content_type, body = _es_route(method, path, root)
            head = (
                f"HTTP/1.1 {status} {_HTTP_REASONS[status]}\r\n"
                f"content-type: {content_type}\r\ncontent-length: {len(body)}\r\n\r\n"
            )
            await s.send(head.encode() + (b"" if method == "HEAD" else body))
            connection = headers.get("connection", "").lower()
            if connection == "close" or (version == "HTTP/1.0" and connection != "keep-alive"):
                return

    return session
