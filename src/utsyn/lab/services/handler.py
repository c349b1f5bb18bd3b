"""The lab server for one service of one host, picked by its `ServiceKind`."""

from __future__ import annotations

from utsyn.lab.context import Handler, LabContext
from utsyn.lab.manifest import Host, Service, ServiceKind
from utsyn.lab.services import (
    elasticsearch,
    ftp,
    ldap,
    memcached,
    mongodb,
    mssql,
    mysql,
    postgres,
    rdp,
    redis,
    smb,
    telnet,
    vnc,
)
from utsyn.lab.services.common import ServerFactory
from utsyn.lab.session import idle_timeout_for, serve

_FACTORIES: dict[ServiceKind, ServerFactory] = {
    ServiceKind.FTP: ftp.server,
    ServiceKind.TELNET: telnet.server,
    ServiceKind.MYSQL: mysql.server,
    ServiceKind.POSTGRES: postgres.server,
    ServiceKind.REDIS: redis.server,
    ServiceKind.MONGODB: mongodb.server,
    ServiceKind.ELASTICSEARCH: elasticsearch.server,
    ServiceKind.MEMCACHED: memcached.server,
    ServiceKind.RDP: rdp.server,
    ServiceKind.SMB: smb.server,
    ServiceKind.LDAP: ldap.server,
    ServiceKind.VNC: vnc.server,
    ServiceKind.MSSQL: mssql.server,
}


def service_handler(
    service: Service, host: Host, ctx: LabContext, *, idle_timeout: float | None = None
) -> Handler:
    """The connection handler for one service of one lab host.

    HTTP(S), SMTP and the DNS resolver have their own modules and are refused here.
    """
    factory = _FACTORIES.get(service.kind)
    if factory is None:
        raise ValueError(f"no lab server in lab/services/ for {service.kind} services")
    return serve(factory(service, host, ctx), idle_timeout_for(ctx, idle_timeout))
