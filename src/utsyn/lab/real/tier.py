"""The real tier: each service the manifest describes, assigned to the first real software
that can serve it, started together and stopped together."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from utsyn.errors import LabError
from utsyn.lab.context import LabContext
from utsyn.lab.manifest import SHARED_NAME_SERVERS, Host, Manifest, Service, ServiceKind
from utsyn.lab.real.apache import APACHE
from utsyn.lab.real.bind import BIND
from utsyn.lab.real.daemon import Daemon
from utsyn.lab.real.nginx import NGINX
from utsyn.lab.real.openssh import OPENSSH
from utsyn.lab.real.postfix import POSTFIX
from utsyn.lab.real.software import Assignment, RealSoftware, require

# The software the real tier can run, in order of preference. Each module adds itself here.
SOFTWARE: list[RealSoftware] = [
    NGINX,
    APACHE,
    POSTFIX,
    OPENSSH,
    BIND,
]


def assign(manifest: Manifest, software: Sequence[RealSoftware]) -> list[Assignment]:
    """Every service of the manifest, with the software that serves it on the real tier."""
    return [
        _assign(host, service, software)
        for _, host in manifest.hosts()
        for service in host.services
    ]


def _assign(host: Host, service: Service, software: Sequence[RealSoftware]) -> Assignment:
    reasons = []
    for candidate in software:
        reason = candidate.refusal(host, service)
        if reason is None:
            return Assignment(host, service, candidate.name)
        reasons.append(f"{candidate.name}: {reason}")
    why = "; ".join(reasons) or "no real software serves this kind"
    return Assignment(host, service, None, why)


def central_name_server(ctx: LabContext) -> Host:
    """The lab's own name server (ns1.test and ns2.test, on the lab's DNS address) as a host
    with a `dns_authoritative` service that refuses `version.bind`, as the lab's own does: the
    real software that serves the manifest's name servers serves it too. The zones and the
    trust anchor stay the lab's (`lab.zones`), keys included."""
    service = Service(kind=ServiceKind.DNS_AUTHORITATIVE, port=ctx.dns_port)
    return Host(name=SHARED_NAME_SERVERS[0], ip=ctx.dns_ip, services=(service,))


def as_served(manifest: Manifest, software: Sequence[RealSoftware]) -> Manifest:
    """The manifest as the real tier serves it: the ground truth of a real-tier scan."""
    by_name = {s.name: s for s in software}
    served = {
        (a.host.name, a.service.effective_port): by_name[a.software]
        for a in assign(manifest, software)
        if a.software is not None
    }

    def host_as_served(host: Host) -> Host:
        services = tuple(
            served[(host.name, s.effective_port)].as_served(host, s)
            if (host.name, s.effective_port) in served
            else s
            for s in host.services
        )
        return host.model_copy(update={"services": services})

    orgs = tuple(
        org.model_copy(update={"hosts": tuple(host_as_served(h) for h in org.hosts)})
        for org in manifest.organisations
    )
    return manifest.model_copy(update={"organisations": orgs})


class RealTier:
    def __init__(
        self, ctx: LabContext, root: Path, software: Sequence[RealSoftware] | None = None
    ) -> None:
        self.ctx = ctx
        self.root = root
        self.software = list(SOFTWARE if software is None else software)
        self.assignments = assign(ctx.manifest, self.software)
        central = central_name_server(ctx)
        self.central = _assign(central, central.services[0], self.software)
        if self.central.software is not None:
            self.assignments.append(self.central)
        self.daemons: list[Daemon] = []

    @property
    def serves_central(self) -> bool:
        """Whether real software serves the lab's own name server (the Python one then
        builds the zones and the trust anchor but does not listen)."""
        return self.central.software is not None

    def served(self) -> set[tuple[str, int]]:
        """(host, port) pairs the real tier serves: the Python tier leaves them alone."""
        return {
            (a.host.name, a.service.effective_port)
            for a in self.assignments
            if a.software is not None
        }

    def start(self) -> None:
        by_software: dict[str, list[tuple[Host, Service]]] = defaultdict(list)
        for a in self.assignments:
            if a.software is not None:
                by_software[a.software].append((a.host, a.service))
        used = [s for s in self.software if s.name in by_software]
        require(used)
        try:
            for software in used:
                folder = self.root / software.name
                folder.mkdir(parents=True, exist_ok=True)
                for daemon in software.daemons(self.ctx, by_software[software.name], folder):
                    daemon.start()
                    self.daemons.append(daemon)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every daemon, even when one of them will not stop; then say which would not."""
        daemons, self.daemons = self.daemons, []
        problems = []
        for daemon in reversed(daemons):
            try:
                daemon.stop()
            except LabError as exc:
                problems.append(str(exc))
        if problems:
            raise LabError(
                "servers that would not stop: %(problems)s", problems="; ".join(problems)
            )

    def status(self) -> dict[str, str]:
        """Host name → what serves it ("nginx", "postfix+python", ...)."""
        serving: dict[str, set[str]] = defaultdict(set)
        for a in self.assignments:
            serving[a.host.name].add(a.software or "python")
        return {host: "+".join(sorted(names)) for host, names in sorted(serving.items())}
