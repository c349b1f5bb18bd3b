"""The OpenSSL client context for reading what a server says behind TLS, without judging
its TLS.

The TLS family judges versions, suites and certificates with its own handshakes; the HTTP
family (pages behind https) and the service probes (greetings behind implicit TLS) only
need to get through: any version and suite the local OpenSSL has, and no verification.
"""

from __future__ import annotations

import functools
import ssl
import warnings


@functools.cache
def permissive_context(alpn: tuple[str, ...] = ()) -> ssl.SSLContext:
    """OpenSSL at its most permissive, offering `alpn` (none: no ALPN extension)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():  # deprecated on purpose: old servers are still scanned
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    ctx.options |= getattr(ssl, "OP_LEGACY_SERVER_CONNECT", 0x4)  # pre-RFC 5746 servers
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx
