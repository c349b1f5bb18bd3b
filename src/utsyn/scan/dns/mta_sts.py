"""MTA-STS (RFC 8461): the `_mta-sts` TXT record and the policy it announces, fetched over
HTTPS from `mta-sts.<domain>` as a sending mail server would fetch it: certificate verified,
no redirect followed, through the scanner's HTTP client (`scan/http/client.py`) and its caps.
"""

from __future__ import annotations

import functools
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from utsyn.scan.family import ScanContext
from utsyn.scan.guard import JOB_CONNECTIONS, ScopeRefused
from utsyn.scan.http.client import Origin, Session, job_deadline
from utsyn.scan.http.response import HttpError
from utsyn.scan.pacing import paced

POLICY_PATH = "/.well-known/mta-sts.txt"
POLICY_LIMIT = 64 * 1024  # senders may refuse larger policies (RFC 8461 3.3)
MODES = ("enforce", "testing", "none")


@dataclass(frozen=True)
class Policy:
    """A parsed policy file (RFC 8461 3.2): `key: value` lines."""

    version: str | None
    mode: str | None
    mx: tuple[str, ...]
    max_age: str | None

    @property
    def valid_mode(self) -> str | None:
        return self.mode if self.version == "STSv1" and self.mode in MODES else None


def sts_records(texts: list[str]) -> list[str]:
    """TXT records that announce a policy: "v=STSv1" first (RFC 8461 3.1)."""
    return [t for t in texts if t.replace(" ", "").startswith("v=STSv1;") or t == "v=STSv1"]


def parse_policy(text: str) -> Policy:
    fields: dict[str, list[str]] = {}
    for line in text.splitlines():
        key, colon, value = line.partition(":")
        if colon:
            fields.setdefault(key.strip().lower(), []).append(value.strip())

    def first(key: str) -> str | None:
        return fields[key][0] if key in fields else None

    return Policy(first("version"), first("mode"), tuple(fields.get("mx", [])), first("max_age"))


def policy_tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """The context for `ca_file` as it is now (a lab restarted with a new CA gets a new one)."""
    stamp = ca_file.stat().st_mtime_ns if ca_file is not None and ca_file.exists() else 0
    return _tls_context(ca_file, stamp)


@functools.cache
def _tls_context(ca_file: Path | None, stamp: int) -> ssl.SSLContext:  # stamp: a cache key
    """Certificate-checking TLS as RFC 8461 3.3 requires: the system store plus `ca_file`.

    Built from OpenSSL's compiled-in locations, not `create_default_context()`: that one
    follows SSL_CERT_FILE, which is set globally on these machines and must not decide.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain and the host name
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    paths = ssl.get_default_verify_paths()
    if paths.openssl_cafile and os.path.isfile(paths.openssl_cafile):
        context.load_verify_locations(cafile=paths.openssl_cafile)
    if paths.openssl_capath and os.path.isdir(paths.openssl_capath):
        context.load_verify_locations(capath=paths.openssl_capath)
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    return context


class PolicyFetchError(Exception):
    """The policy could not be fetched; the message says why."""


class PolicyUnreachable(PolicyFetchError):
    """No address of the policy host answered (time-outs, resets): the check failed, which
    says nothing about the policy (a failure is not a finding)."""


async def fetch_policy(domain: str, scan: ScanContext) -> str:
    """The policy text from https://mta-sts.<domain>/.well-known/mta-sts.txt."""
    host = f"mta-sts.{domain}"
    addresses = await paced(scan).addresses(host)
    if not addresses:
        raise PolicyFetchError(f"{host} does not resolve")
    reasons = []
    unreachable = True
    for ip in addresses[:JOB_CONNECTIONS]:  # one connection each, within a job's budget
        try:
            return await fetch_from(host, ip, scan)
        except ScopeRefused as exc:
            reasons.append(f"{ip}: {exc}")
        except ssl.SSLError as exc:
            reasons.append(f"{ip}: TLS {exc.reason or exc}")
            unreachable = False  # it answered, with a certificate senders refuse
        except (OSError, TimeoutError) as exc:
            reasons.append(f"{ip}: {type(exc).__name__} {exc}".rstrip())
        except PolicyFetchError as exc:
            reasons.append(f"{ip}: {exc}")
            unreachable = False
    raise (PolicyUnreachable if unreachable else PolicyFetchError)("; ".join(reasons))


async def fetch_from(host: str, ip: str, scan: ScanContext) -> str:
    """The policy from one address, through the HTTP client and its caps. Only a 200 answer
    counts (redirects must not be followed, RFC 8461 3.3), and only text/plain."""
    origin = Origin("https", host, ip, 443)
    tls = policy_tls_context(scan.config.ca_file)
    # No tlslite-ng fallback (legacy=None): a sender verifies, a failed handshake is the answer.
    session = Session(scan, origin, job_deadline(scan), tls=tls, accept="text/plain")
    async with session:
        try:
            response = await session.get(POLICY_PATH)
        except HttpError as exc:
            raise PolicyFetchError(str(exc)) from exc
    if response.status != 200:
        status_line = response.head.split(b"\n", 1)[0].rstrip(b"\r").decode("latin-1")
        raise PolicyFetchError(f"HTTP status {status_line!r}")
    content_type = response.header("content-type")
    if not (content_type or "").lower().startswith("text/plain"):
        raise PolicyFetchError(f"Content-Type {content_type!r}, not text/plain")
    return response.body[:POLICY_LIMIT].decode("utf-8", "replace")
