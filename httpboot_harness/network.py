"""The lab network: a private namespace holding tap0 and the server's IPv4 and IPv6 addresses.

Nothing here touches the host's own interfaces, addresses or routes; every packet of a case stays
inside its namespace. Names carry the owner's pid, so a later run can remove what a killed run left.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import subprocess
from dataclasses import dataclass
from ipaddress import IPv4Interface, IPv6Interface

from pyroute2 import IPRoute, netns

from .errors import InfrastructureError
from .process import owner_alive

log = logging.getLogger(__name__)

NAMESPACE_PREFIX = "hbh-"
TAP = "tap0"
IFA_F_NODAD = 0x02
IN6_ADDR_GEN_MODE_NONE = 1


SERVER_V4 = IPv4Interface("192.168.111.1/24")
SERVER_V6 = IPv6Interface("2001:db8:f00f:cafe::1/64")
LINK_LOCAL_V6 = IPv6Interface("fe80::1/64")


@dataclass(frozen=True)
class Addressing:
    """The seed's subnets: the server is .1 / ::1 on tap0, clients get leases from the ranges."""

    server_v4: IPv4Interface = SERVER_V4
    server_v6: IPv6Interface = SERVER_V6
    link_local_v6: IPv6Interface = LINK_LOCAL_V6
    pool_v4: tuple[str, str] = ("192.168.111.100", "192.168.111.120")
    pool_v6: tuple[str, str] = ("2001:db8:f00f:cafe::42:10", "2001:db8:f00f:cafe::42:99")
    hostname: str = "www.httpboot.local"


def new_tag() -> str:
    """A run tag ``hbh-<pid>-<random>``: unique per process and case, and tells who owns it."""
    return f"{NAMESPACE_PREFIX}{os.getpid()}-{secrets.token_hex(3)}"


class Lab:
    """A namespace with tap0 up and addressed; a context manager whose removal is idempotent."""

    def __init__(self, tag: str, addressing: Addressing | None = None) -> None:
        self.name = tag
        self.addressing = addressing or Addressing()
        self._created = False

    def __enter__(self) -> Lab:
        self.create()
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def create(self) -> None:
        try:
            netns.create(self.name)
        except OSError as exc:
            raise InfrastructureError(
                f"cannot create network namespace {self.name}: {exc} "
                "(run as root, or grant CAP_SYS_ADMIN and CAP_NET_ADMIN)"
            ) from exc
        self._created = True
        try:
            self._configure()
        except Exception:
            self.remove()
            raise

    def _configure(self) -> None:
        a = self.addressing
        with IPRoute(netns=self.name) as ipr:
            lo = ipr.link_lookup(ifname="lo")[0]
            ipr.link("set", index=lo, state="up")
            try:
                ipr.link("add", ifname=TAP, kind="tuntap", mode="tap")
            except Exception as exc:
                raise InfrastructureError(
                    f"cannot create {TAP} in {self.name}: {exc} (is /dev/net/tun present? "
                    "modprobe tun)"
                ) from exc
            tap = ipr.link_lookup(ifname=TAP)[0]
            # No kernel-made link-local address: it would run duplicate address detection when
            # QEMU brings the carrier up; we add our own fe80::1 without DAD instead.
            ipr.link(
                "set",
                index=tap,
                IFLA_AF_SPEC={
                    "attrs": [
                        [
                            "AF_INET6",
                            {"attrs": [["IFLA_INET6_ADDR_GEN_MODE", IN6_ADDR_GEN_MODE_NONE]]},
                        ],
                    ]
                },
            )
            ipr.link("set", index=tap, state="up")
            ipr.addr("add", index=tap, address=str(a.server_v4.ip), prefixlen=24)
            for iface in (a.server_v6, a.link_local_v6):
                ipr.addr(
                    "add",
                    index=tap,
                    address=str(iface.ip),
                    prefixlen=iface.network.prefixlen,
                    flags=IFA_F_NODAD,
                )

    def remove(self) -> None:
        """Kill what still runs inside, then delete the namespace (its tap goes with it)."""
        if not self._created:
            return
        self._created = False
        remove_namespace(self.name)


def remove_namespace(name: str) -> None:
    _kill_namespace_processes(name)
    try:
        netns.remove(name)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not remove namespace %s: %s", name, exc)


def _kill_namespace_processes(name: str) -> None:
    try:
        out = subprocess.run(
            ["ip", "netns", "pids", name], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return
    for pid in out.split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


def sweep_stale_namespaces() -> list[str]:
    """Remove namespaces of ours whose owning process is gone (a run killed with SIGKILL)."""
    removed = []
    for name in netns.listnetns():
        if name.startswith(NAMESPACE_PREFIX) and not owner_alive(name):
            remove_namespace(name)
            removed.append(name)
    if removed:
        log.warning("removed namespaces left by an earlier, killed run: %s", removed)
    return removed
