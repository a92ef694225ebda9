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
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Interface, IPv6Interface

from pyroute2 import netns

from . import labstate
from .errors import HarnessTimeout, InfrastructureError, PrerequisiteError
from .process import TAG_VARIABLE
from .userns import Holder, LabMode, choose_mode, enter_argv, forget, namespace_members, register
from .waiting import ChildDied, Deadline, wait_until

log = logging.getLogger(__name__)

TAP = "tap0"
BRIDGE = "br0"


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

    @property
    def domain(self) -> str:
        """The lab's DNS domain: the boot host name without its first label."""
        return self.hostname.split(".", 1)[1]


def new_tag() -> str:
    """A run tag ``hbh-<pid>-<random>``: unique per process and case, and tells who owns it."""
    return f"{labstate.own_prefix()}{secrets.token_hex(3)}"


TUN_DEVICE = "/dev/net/tun"
ROOTLESS_FIX = "sudo chmod 0666 /dev/net/tun (Debian's udev default), or run as root"


class Lab:
    """A namespace with tap0 up and addressed; a context manager whose removal is idempotent.

    In root mode the namespace is a named one (``ip netns add``); in rootless mode it belongs to a
    user namespace that a holder process keeps alive (:mod:`.userns`), and programs are started
    in it through the holder (``userns.enter_prefix(lab.name)`` knows which).

    Changes go through iproute2's ``ip`` (fork and exec), not pyroute2's namespace helpers: those
    fork the Python process itself, which can deadlock when other threads run (``matrix --jobs``,
    pytest-xdist workers). pyroute2 is used for reads that need no child process.
    """

    def __init__(
        self, tag: str, addressing: Addressing | None = None, mode: LabMode | None = None
    ) -> None:
        self.name = tag
        self.addressing = addressing or Addressing()
        self.mode: LabMode = mode or choose_mode("auto")[0]
        self._created = False
        self._record: labstate.LabRecord | None = None
        self._holder: Holder | None = None

    def __enter__(self) -> Lab:
        self.create()
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def create(self) -> None:
        # The owner record comes first, so a kill at any later moment leaves nothing unrecorded.
        rootless = self.mode == "rootless"
        self._record = labstate.claim(self.name, namespace=None if rootless else self.name)
        try:
            if rootless:
                self._hold()
                if self._holder is not None:
                    self._record = self._record.with_holder(self._holder.pid)
            else:
                _ip("netns", "add", self.name, what=f"create network namespace {self.name}")
        except BaseException:
            if self._holder is not None:  # a stop while the holder was entering its namespaces
                holder, self._holder = self._holder, None
                forget(self.name)
                holder.stop()
            self._record.release()
            raise
        self._created = True
        try:
            self._configure()
        except BaseException:
            self.remove()
            raise

    server_link = TAP
    """The link that carries the server's addresses."""

    def _links(self) -> list[str]:
        """``ip -batch`` lines that make the lab's links. No kernel-made link-local address: it
        would run duplicate address detection when QEMU brings the carrier up; the server's own
        fe80::1 is added without DAD instead."""
        return [
            f"tuntap add dev {TAP} mode tap",
            f"link set dev {TAP} addrgenmode none",
            f"link set dev {TAP} up",
        ]

    def _configure(self) -> None:
        a, link = self.addressing, self.server_link
        batch = [
            "link set lo up",
            *self._links(),
            f"addr add {a.server_v4} dev {link}",
            f"addr add {a.server_v6} dev {link} nodad",
            f"addr add {a.link_local_v6} dev {link} nodad",
        ]
        what = f"set up {link} in {self.name}"
        if self._holder is None:
            _ip("-n", self.name, "-batch", "-", stdin="\n".join(batch) + "\n", what=what)
        else:
            _ip("-batch", "-", stdin="\n".join(batch) + "\n", what=what,
                prefix=enter_argv(self._holder.pid), fix=ROOTLESS_FIX)  # fmt: skip

    def _hold(self, seconds: float = 10.0) -> None:
        """Start the holder of a rootless lab and wait until it is inside its namespaces."""
        if not os.access(TUN_DEVICE, os.R_OK | os.W_OK):
            raise PrerequisiteError(
                f"{TUN_DEVICE} is not open to this user, so a rootless lab cannot make its tap",
                ROOTLESS_FIX,
            )
        env = dict(os.environ)
        env[TAG_VARIABLE] = self.name
        try:
            holder = Holder(self.name, env)
        except FileNotFoundError:
            raise PrerequisiteError(
                "unshare (util-linux) is not installed", "apt-get install util-linux"
            ) from None
        self._holder = holder
        try:
            wait_until(
                holder.entered,
                deadline=Deadline(seconds),
                what="the rootless lab's user namespace",
                still_alive=holder.death_notice,
            )
        except (ChildDied, HarnessTimeout) as exc:
            self._holder = None
            holder.stop()
            raise PrerequisiteError(
                f"cannot create a user namespace for a rootless lab: {exc}",
                "enable unprivileged user namespaces (sysctl user.max_user_namespaces=15000, "
                "kernel.unprivileged_userns_clone=1 where it exists), or run as root",
            ) from None
        register(self.name, holder.pid)

    def remove(self) -> None:
        """Kill what still runs inside, then delete the namespace (its tap goes with it)."""
        if not self._created:
            return
        self._created = False
        self._release_lab()
        if self._record is not None:
            self._record.release()

    def _release_lab(self) -> None:
        if self._holder is None:
            remove_namespace(self.name)
            return
        holder, self._holder = self._holder, None
        forget(self.name)
        with contextlib.suppress(OSError):
            for pid in namespace_members(holder.network_namespace()):
                if pid != holder.pid:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        holder.stop()


class BridgedLab(Lab):
    """A namespace whose server addresses sit on a bridge with several taps, one per guest: the
    mixed-architecture case, where clients share one link and one set of servers."""

    def __init__(
        self,
        tag: str,
        addressing: Addressing | None = None,
        taps: tuple[str, ...] = (TAP, "tap1"),
        mode: LabMode | None = None,
    ) -> None:
        super().__init__(tag, addressing, mode)
        self.taps = taps

    server_link = BRIDGE

    def _links(self) -> list[str]:
        """The bridge forwards at once (no STP listening/learning delay) and floods multicast
        (no snooping), so every guest hears router adverts and neighbour solicitations."""
        links = [
            f"link add {BRIDGE} type bridge stp_state 0 forward_delay 0 mcast_snooping 0",
            f"link set dev {BRIDGE} addrgenmode none",
        ]
        for tap in self.taps:
            links += [
                f"tuntap add dev {tap} mode tap",
                f"link set dev {tap} addrgenmode none",
                f"link set dev {tap} master {BRIDGE}",
                f"link set dev {tap} up",
            ]
        return [*links, f"link set dev {BRIDGE} up"]


def _ip(
    *args: str,
    what: str,
    stdin: str | None = None,
    prefix: Sequence[str] = (),
    fix: str = "run as root; is /dev/net/tun present?",
) -> None:
    try:
        done = subprocess.run(
            [*prefix, "ip", *args], input=stdin, capture_output=True, text=True, timeout=20,
            check=False,
        )  # fmt: skip
    except FileNotFoundError:
        raise PrerequisiteError(
            "ip (iproute2) is not installed", "apt-get install iproute2"
        ) from None
    except subprocess.TimeoutExpired as exc:
        raise InfrastructureError(f"cannot {what}: ip did not answer in 20 s") from exc
    if done.returncode != 0:
        raise InfrastructureError(f"cannot {what}: {done.stderr.strip()} ({fix})")


def remove_namespace(name: str) -> None:
    """Kill every process left in the namespace, then delete it; tolerates "already gone"."""
    for pid in netns.ns_pids().get(name, []):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if name in netns.listnetns():
        try:
            _ip("netns", "delete", name, what=f"remove namespace {name}")
        except InfrastructureError as exc:
            log.warning("%s", exc)
