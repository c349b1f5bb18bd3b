"""FTP: the greeting, then a login refused in the words of vsftpd, ProFTPD or Microsoft."""

from __future__ import annotations

from dataclasses import dataclass, replace

from utsyn.lab.context import LabContext
from utsyn.lab.manifest import Host, Service
from utsyn.lab.services.common import MAX_REQUESTS, banner
from utsyn.lab.session import Serve, Session, reply_line


@dataclass(frozen=True)
class _FtpDialect:
    need_password: str  # {user}
    login_failed: str
    need_login: str
    unknown: str  # {command}
    system: str
    noop: str


_VSFTPD = _FtpDialect(
    need_password="331 Please specify the password.",
    login_failed="530 Login incorrect.",
    need_login="530 Please login with USER and PASS.",
    unknown="530 Please login with USER and PASS.",  # vsftpd says this to anything pre-login
    system="215 UNIX Type: L8",
    noop="200 NOOP ok.",
)
# The others, by what they say differently from vsftpd.
_PROFTPD = replace(
    _VSFTPD,
    need_password="331 Password required for {user}",
    need_login="530 Please login with USER and PASS",
    unknown="500 {command} not understood",
    noop="200 NOOP command successful",
)
_MS_FTP = replace(
    _VSFTPD,
    need_password="331 Password required for {user}.",
    login_failed="530 User cannot log in.",
    unknown="500 '{command}': command not understood.",
    system="215 Windows_NT",
    noop="200 NOOP command successful.",
)
_FTP_FEATURES = "211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n REST STREAM\r\n SIZE\r\n"
_FTP_FEATURES += " TVFS\r\n UTF8\r\n211 End\r\n"
_FTP_MAX_LOGIN_FAILS = 3  # vsftpd max_login_fails and ProFTPD MaxLoginAttempts default


def _ftp_dialect(greeting: str) -> _FtpDialect:
    if "ProFTPD" in greeting:
        return _PROFTPD
    if "Microsoft" in greeting:
        return _MS_FTP
    return _VSFTPD


def server(service: Service, host: Host, ctx: LabContext) -> Serve:
    greeting = reply_line(220, banner(service)) + "\r\n"
    dialect = _ftp_dialect(greeting)

    async def session(s: Session) -> None:
        await s.send(greeting.encode())
        user: str | None = None
        failures = 0
        for _ in range(MAX_REQUESTS):
            line = (await s.read_line()).decode("latin-1").strip()
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            if verb == "QUIT":
                await s.send(b"221 Goodbye.\r\n")
                return
            if verb == "PASS" and user is not None:
                failures += 1
                await s.send(dialect.login_failed.encode() + b"\r\n")
                if failures >= _FTP_MAX_LOGIN_FAILS:
                    return
                user = None
                continue
            if verb == "USER":
                user = arg
            await s.send(_ftp_reply(dialect, verb, arg).encode())

    return session


def _ftp_reply(dialect: _FtpDialect, verb: str, arg: str) -> str:
    if verb == "USER":
        return dialect.need_password.format(user=arg) + "\r\n"
    if verb == "PASS":
        return "503 Login with USER first.\r\n"
    if verb == "SYST":
        return dialect.system + "\r\n"
    if verb == "FEAT":
        return _FTP_FEATURES
    if verb == "NOOP":
        return dialect.noop + "\r\n"
    if verb in {"AUTH", "PBSZ", "PROT", "HELP", "LIST", "RETR", "STOR", "CWD", "PWD", "PASV"}:
        return dialect.need_login + "\r\n"
    return dialect.unknown.format(command=verb[:32]) + "\r\n"
