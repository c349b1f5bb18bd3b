"""Postfix as the real tier's MTA: one instance serving every smtp, submission and
submissions service it can express, each bound in master.cf to its host's own address.

The instance lives under its root folder (`postfix -c <root>/etc start`): configuration,
queue, data, the master's PID (`spool/pid/master.pid`) and the log; /etc/postfix is left
as the package installed it (only its list of Postfix's own files is read). Binding in
master.cf (`127.x.y.z:25 inet ... smtpd`) rather than through `inet_interfaces` leaves
the host's interfaces alone. Each service's smtpd gets its own settings (`-o`), and each
host its own trivial-rewrite, so that what is local mail (and which names VRFY knows) is
decided per host, as the Python tier does.

From the manifest: the greeting (`smtpd_banner`, verbatim), STARTTLS or implicit TLS with
the lab CA's certificate and the profile's versions and cipher classes, VRFY
("enumerates": the RFC 2142 mailboxes are the local recipients, others are unknown;
"uniform": an empty `local_recipient_maps` accepts any local name, so VRFY answers 252 to
all; "disabled": `disable_vrfy_command`), and AUTH (Cyrus SASL with PLAIN and LOGIN and
no accounts, so every login fails): before TLS only with `plaintext_login`
(`smtpd_tls_auth_only = no`), after TLS on submission. Mail that is accepted is discarded.

Postfix has no EXPN, does not speak another MTA's dialect, and Debian's OpenSSL cannot
serve SSLv3, RC4 or 3DES: such services stay Python (`refusal` says which).
"""

from __future__ import annotations

import base64
import os
import pwd
import re
from collections.abc import Sequence
from pathlib import Path

from utsyn.errors import LabError
from utsyn.lab.ca import Credentials
from utsyn.lab.context import LabContext
from utsyn.lab.mail import KNOWN_USERS, accepted_domains, default_smtp_banner
from utsyn.lab.manifest import IMPLICIT_TLS_KINDS, SMTP_KINDS, Host, Packaging, Service, ServiceKind
from utsyn.lab.real.daemon import Daemon
from utsyn.lab.real.software import which
from utsyn.lab.real.tree import TreeDaemon
from utsyn.lab.session import idle_timeout_for
from utsyn.lab.specs import TlsSpec, TlsVersion
from utsyn.lab.tls import DH_PRIMES, KeyFamily, openssl_suites

MAIL_OWNER = "postfix"
# Relative to the queue directory, where every Postfix program works: the master opens its
# lock there as the mail owner, who may not be able to walk the lab's state folder from
# "/" (pytest's and a home directory's are 0700), but can below its working directory.
DATA_DIRECTORY = "data"
# Greetings of other MTAs: the Python tier speaks their dialects; Postfix would only
# wear their banner.
OTHER_MTAS = re.compile(r"\b(Exim|Sendmail|Microsoft|Exchange|qmail|OpenSMTPD)\b", re.I)
# Cyrus SASL's mechanisms that carry the password (libsasl2-modules).
SASL_PLUGINS = ("libplain.so", "liblogin.so")
_SASL_DIRS = (
    "/usr/lib/x86_64-linux-gnu/sasl2",
    "/usr/lib/aarch64-linux-gnu/sasl2",
    "/usr/lib/sasl2",
)
_OPENSSL_VERSIONS = {
    TlsVersion.TLS10: "TLSv1",
    TlsVersion.TLS11: "TLSv1.1",
    TlsVersion.TLS12: "TLSv1.2",
    TlsVersion.TLS13: "TLSv1.3",
}
# The services a Postfix instance needs besides smtpd (master.cf as Debian ships it, none
# chrooted: the chroot would need copies of files from /etc).
_MASTER_CF_BASE = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Postfix:
    name: str = "postfix"
    packages: tuple[str, ...] = ("postfix",)
    binaries: tuple[str, ...] = (
        "/usr/sbin/postfix",
        "/usr/lib/postfix/sbin/master",
        "/usr/lib/postfix/sbin/smtpd",
    )

    def refusal(self, host: Host, service: Service) -> str | None:
        if service.kind not in SMTP_KINDS:
            return "serves smtp, submission and submissions only"
        greeting = _banner(host, service)
        other = OTHER_MTAS.search(greeting)
        if other:
            return f"the greeting names {other[1]}, whose dialect Postfix does not speak"
        if re.search(r"[{}\r\n]", greeting) or greeting != greeting.strip():
            return "a greeting with braces, line breaks or outer spaces cannot be configured"
        if re.match(r"220[ -]", greeting):
            return "a greeting with its own reply code cannot be configured"
        if service.expn == "enumerates":
            return "Postfix has no EXPN command"
        if _authenticates(service) and not _sasl_installed():
            return "AUTH needs Cyrus SASL's PLAIN and LOGIN: apt-get install libsasl2-modules"
        if _tls_on(service):
            assert service.tls is not None
            if service.tls.legacy:
                return "Debian's OpenSSL 3.0 cannot serve SSLv3, RC4 or 3DES"
            try:
                openssl_suites(service.tls, _family(service.tls))
            except LabError as exc:
                return str(exc)
        return None

    def as_served(self, host: Host, service: Service) -> Service:
        """The greeting as configured (Postfix's Debian default when the manifest has
        none), and Debian's package: any version a greeting names is not what runs."""
        return service.model_copy(
            update={
                "banner": _banner(host, service),
                "package": Packaging.DEBIAN,
                "package_patched": True,
            }
        )

    def daemons(
        self, ctx: LabContext, served: Sequence[tuple[Host, Service]], root: Path
    ) -> list[Daemon]:
        etc, spool, logs = root / "etc", root / "spool", root / "log"
        data = spool / DATA_DIRECTORY
        for folder in (etc / "sasl", data, logs, root / "tls"):
            folder.mkdir(parents=True, exist_ok=True)
        try:
            owner = pwd.getpwnam(MAIL_OWNER)
        except KeyError as exc:
            raise LabError(
                "the user %(user)s is missing: reinstall postfix", user=MAIL_OWNER
            ) from exc
        os.chown(data, owner.pw_uid, owner.pw_gid)  # the master's lock lives there
        log = logs / "postfix.log"
        ipv6 = any(host.ipv6 for host, _ in served)
        (etc / "main.cf").write_text(_main_cf(ctx, root, log, ipv6), encoding="utf-8")
        (etc / "master.cf").write_text(_master_cf(ctx, served, root), encoding="utf-8")
        # No accounts and no sasldb: PLAIN and LOGIN are offered, and every login fails.
        (etc / "sasl" / "smtpd.conf").write_text(
            f"pwcheck_method: auxprop\nauxprop_plugin: sasldb\nmech_list: PLAIN LOGIN\n"
            f"sasldb_path: {root / 'sasldb2'}\n",
            encoding="utf-8",
        )
        listens = [
            (ip, service.effective_port)
            for host, service in served
            for ip in [ctx.addresses[host.name]] + (["::1"] if host.ipv6 else [])
        ]
        return [
            TreeDaemon(
                name=self.name,
                argv=[which("postfix"), "-c", str(etc), "start"],
                pidfile=spool / "pid" / "master.pid",
                log=log,
                listens=listens,
            )
        ]


POSTFIX = Postfix()


# ---------------------------------------------------------------- main.cf


def _main_cf(ctx: LabContext, root: Path, log: Path, ipv6: bool) -> str:
    known = ", ".join(f"{user}={user}" for user in sorted(KNOWN_USERS))
    settings = {
        "compatibility_level": "3.6",
        "queue_directory": str(root / "spool"),
        "data_directory": DATA_DIRECTORY,
        "mail_owner": MAIL_OWNER,
        "setgid_group": "postdrop",
        "inet_interfaces": "all",  # each smtpd is bound in master.cf to its own address
        "inet_protocols": "all" if ipv6 else "ipv4",
        "myhostname": "localhost",
        "mydestination": "localhost",
        # Only for the exemption from connection limits: every scanner comes from here.
        "mynetworks": "127.0.0.0/8" + (" [::1]/128" if ipv6 else ""),
        "alias_maps": "",
        "alias_database": "",
        # The mailboxes every lab MTA has; "uniform" services empty this.
        "local_recipient_maps": f"inline:{{ {known} }}",
        "local_transport": "discard:lab",
        "default_transport": "discard:lab",
        "relay_transport": "discard:lab",
        "virtual_transport": "discard:lab",
        "smtpd_relay_restrictions": "reject_unauth_destination",
        "smtpd_timeout": f"{max(1, round(idle_timeout_for(ctx)))}s",
        "smtpd_sasl_type": "cyrus",
        "smtpd_sasl_path": "smtpd",  # etc/sasl/smtpd.conf
        "biff": "no",
        "maillog_file": str(log),
        "maillog_file_prefixes": str(root),
    }
    return "".join(f"{key} = {value}\n" for key, value in settings.items())


# ---------------------------------------------------------------- master.cf


def _master_cf(ctx: LabContext, served: Sequence[tuple[Host, Service]], root: Path) -> str:
    lines = [_MASTER_CF_BASE]
    rewrites: dict[str, str] = {}  # host name → its trivial-rewrite service
    for host, service in served:
        if host.name not in rewrites:
            rewrites[host.name] = f"rewrite-{len(rewrites) + 1}"
            lines.append(
                f"{rewrites[host.name]} unix - - n - - trivial-rewrite\n"
                + _options(
                    [
                        ("myhostname", host.name),
                        ("myorigin", host.name),
                        ("mydestination", ",".join(_domains(ctx, host))),
                    ]
                )
            )
        options = [
            ("syslog_name", f"postfix/{host.name}/{service.effective_port}"),
            ("rewrite_service_name", rewrites[host.name]),
            ("myhostname", host.name),
            ("myorigin", host.name),
            ("mydestination", ",".join(_domains(ctx, host))),
            *_smtpd_options(ctx, host, service, root),
        ]
        ips = [ctx.addresses[host.name]] + (["[::1]"] if host.ipv6 else [])
        for ip in ips:
            lines.append(
                f"{ip}:{service.effective_port} inet n - n - - smtpd\n" + _options(options)
            )
    return "".join(lines)


def _domains(ctx: LabContext, host: Host) -> list[str]:
    """The domains the host takes mail for (as the Python tier's MTA), and localhost."""
    return sorted(accepted_domains(host, ctx) | {"localhost"})


def _options(options: Sequence[tuple[str, str]]) -> str:
    """master.cf `-o` lines; a value with spaces in braces (Postfix 3.0), `$` escaped."""
    out = []
    for key, value in options:
        value = value.replace("$", "$$")
        out.append(f"  -o {{ {key} = {value} }}\n" if " " in value else f"  -o {key}={value}\n")
    return "".join(out)


def _smtpd_options(
    ctx: LabContext, host: Host, service: Service, root: Path
) -> list[tuple[str, str]]:
    options = [("smtpd_banner", _banner(host, service))]
    options.append(("disable_vrfy_command", "yes" if service.vrfy == "disabled" else "no"))
    if service.vrfy == "uniform":
        options.append(("local_recipient_maps", ""))
    if _authenticates(service):
        options.append(("smtpd_sasl_auth_enable", "yes"))
        options.append(("smtpd_tls_auth_only", "no" if service.plaintext_login else "yes"))
    if service.kind != ServiceKind.SMTP:
        # Users' submission: no mail without a login. Refused at the sender, which VRFY
        # does not check, so that VRFY answers as the manifest says; refused at the
        # recipient, Postfix would let unqualified "postmaster" through and refuse the rest.
        options.append(("smtpd_sender_restrictions", "permit_sasl_authenticated,reject"))
    if not _tls_on(service):
        return [*options, ("smtpd_tls_security_level", "none")]
    assert service.tls is not None
    implicit = service.kind in IMPLICIT_TLS_KINDS
    creds = ctx.ca.issue([host.name, *host.aliases], service.tls.cert)
    options += [
        ("smtpd_tls_security_level", "encrypt" if implicit else "may"),
        ("smtpd_tls_wrappermode", "yes" if implicit else "no"),
        *_tls_options(service.tls, creds, root / "tls"),
    ]
    return options


def _tls_options(spec: TlsSpec, creds: Credentials, folder: Path) -> list[tuple[str, str]]:
    """The profile's versions and cipher suites (the same OpenSSL suites as the Python
    tier's), for opportunistic and mandatory TLS alike."""
    # Postfix lowers OpenSSL's security level to 0 itself (TLS beats plaintext) and adds
    # nothing to a grade's list: these suites are served as written.
    suites = ":".join(openssl_suites(spec, _family(spec)))
    refused = ["SSLv2", "SSLv3"]
    refused += [name for version, name in _OPENSSL_VERSIONS.items() if version not in spec.versions]
    protocols = ",".join(f"!{name}" for name in refused)
    options = [
        ("smtpd_tls_chain_files", f"{creds.key_file},{creds.cert_file}"),
        ("smtpd_tls_protocols", protocols),
        ("smtpd_tls_mandatory_protocols", protocols),
        ("smtpd_tls_ciphers", "high"),
        ("smtpd_tls_mandatory_ciphers", "high"),
        ("tls_high_cipherlist", suites),
    ]
    if spec.dhe is not None:
        options.append(("smtpd_tls_dh1024_param_file", str(_dh_file(spec.dhe, folder))))
    return options


def _family(spec: TlsSpec) -> KeyFamily:
    return "rsa" if spec.cert.key.startswith("rsa") else "ec"


def _dh_file(bits: int, folder: Path) -> Path:
    """The fixed group in PKCS #3 form ("BEGIN DH PARAMETERS"): Postfix's decoder takes no
    other, and `cryptography` writes the RFC 7919 group as X9.42."""
    der = _der(0x30, _der_int(DH_PRIMES[bits]) + _der_int(2))
    body = base64.encodebytes(der).decode("ascii").replace("\n", "")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    path = folder / f"dh{bits}.pem"
    text = "\n".join(["-----BEGIN DH PARAMETERS-----", *lines, "-----END DH PARAMETERS-----"])
    path.write_text(text + "\n", encoding="ascii")
    return path


def _der_int(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


# ---------------------------------------------------------------- small questions


def _banner(host: Host, service: Service) -> str:
    return service.banner if service.banner is not None else default_smtp_banner(host)


def _tls_on(service: Service) -> bool:
    return service.tls is not None and (service.starttls or service.kind in IMPLICIT_TLS_KINDS)


def _authenticates(service: Service) -> bool:
    """AUTH is offered somewhere: before TLS, or (submission) after it."""
    return service.plaintext_login or service.kind != ServiceKind.SMTP


def _sasl_installed() -> bool:
    return any(all(any(Path(d).glob(f"{plugin}*")) for plugin in SASL_PLUGINS) for d in _SASL_DIRS)
