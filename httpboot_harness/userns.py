"""Rootless labs: a user namespace that owns the lab's network namespace, and a way into it.

A user who is not root cannot make a named namespace under /run/netns, but may create a user
namespace and, inside it, a network namespace with its own tap (when /dev/net/tun is open to
users, Debian's udev default 0666). A *holder* process (``unshare --user --net``, then ``cat``
reading a pipe from the harness) keeps both alive; everything else enters them through
``/proc/<holder>/ns/{user,net}``.

Inside, the user is mapped to its own uid, not to root, and every program runs with three
ambient capabilities (``CAP_NET_ADMIN``, ``CAP_NET_RAW``, ``CAP_NET_BIND_SERVICE``) instead. A
mapped root would not do: only one uid and gid exist in such a namespace and ``setgroups`` is
denied there, so every daemon that drops root's privileges fails (tcpdump's ``-Z root`` or its
default ``tcpdump`` user: "Couldn't change to 'root' uid=0 gid=0: Operation not permitted";
dnsmasq's ``group=``: "failed to change group-id"; apache2 refuses ``User root`` at build time).
A daemon that is not root never tries, and the capabilities are all the lab needs: the tap and
addresses, raw sockets for DHCP and the capture, ports below 1024, QEMU attaching to tap0.

Entering takes one ``setns`` per namespace and a capability raise before ``exec``; nsenter cannot
do the raise (the capabilities that ``setns`` grants are lost at ``exec`` for a non-root uid), so
``python -m httpboot_harness.userns PID -- ARGV`` does it (:func:`main`), with ctypes and only the
standard library, and then becomes ARGV (the same pid, so /proc/PID/net shows its sockets).

The holder dies with its owner: its stdin is a pipe only the owning harness holds, and ``cat``
ends at EOF, even when the harness was killed with SIGKILL. It also carries the harness's tag
in its environment (``process.TAG_VARIABLE``), so the sweep of tagged orphans ends it and the
processes left in its namespace like any other child of a killed run.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Literal

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
CAP_NET_BIND_SERVICE = 10
CAP_NET_ADMIN = 12
CAP_NET_RAW = 13
LAB_CAPABILITIES = (CAP_NET_BIND_SERVICE, CAP_NET_ADMIN, CAP_NET_RAW)
_CAPABILITY_VERSION_3 = 0x20080522
ROOT_STAND_IN_UID = 1000
"""The uid inside for a root who asks for a rootless lab (root's own uid would be a mapped
root again, with the trouble described above)."""


LabMode = Literal["root", "rootless"]


def choose_mode(setting: str, euid: int | None = None) -> tuple[LabMode, str]:
    """The lab mode a run will use, and why (``doctor`` shows both)."""
    uid = os.geteuid() if euid is None else euid
    if setting == "root":
        return "root", "asked for (lab-mode root): named namespaces under /run/netns"
    if setting == "rootless":
        return "rootless", "asked for (lab-mode rootless): a user namespace, no sudo"
    if uid == 0:
        return "root", "running as root: named namespaces under /run/netns"
    return "rootless", f"not root (uid {uid}): a user namespace that the user owns, no sudo"


_HOLDERS: dict[str, int] = {}
"""Rootless labs of this process, by name: the holder's pid (see :func:`enter_prefix`)."""


def register(name: str, holder_pid: int) -> None:
    _HOLDERS[name] = holder_pid


def forget(name: str) -> None:
    _HOLDERS.pop(name, None)


def enter_prefix(name: str) -> list[str]:
    """How to run a program in the lab ``name``: through its holder when it is rootless, else
    with ``ip netns exec`` (a named namespace). Daemons, the capture and QEMU get this prefix, so
    they need not know which mode the lab is in."""
    holder = _HOLDERS.get(name)
    return enter_argv(holder) if holder is not None else ["ip", "netns", "exec", name]


def inner_uid() -> int:
    """The uid the user has inside: its own, so files and processes read the same both sides."""
    return os.getuid() or ROOT_STAND_IN_UID


def holder_argv() -> list[str]:
    """``unshare`` makes the user and network namespaces, maps the user, then execs ``cat``."""
    uid, gid = inner_uid(), os.getgid() or ROOT_STAND_IN_UID
    return ["unshare", "--user", "--net", f"--map-user={uid}", f"--map-group={gid}", "cat"]


def enter_argv(holder_pid: int) -> list[str]:
    """The prefix that runs a program inside the holder's namespaces with the lab's capabilities."""
    return [sys.executable, "-m", "httpboot_harness.userns", str(holder_pid), "--"]


class Holder:
    """The process that keeps a rootless lab's namespaces alive; :meth:`stop` ends it."""

    def __init__(self, tag: str, env: dict[str, str]) -> None:
        self.tag = tag
        self._popen: subprocess.Popen[bytes] = subprocess.Popen(
            holder_argv(),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env=env,
        )
        self.pid = self._popen.pid

    def entered(self) -> bool:
        """True once ``unshare`` has become ``cat`` inside its own user namespace."""
        try:
            exe = os.readlink(f"/proc/{self.pid}/exe")
            own_user = os.readlink(f"/proc/{self.pid}/ns/user")
        except OSError:
            return False
        return Path(exe).name == "cat" and own_user != os.readlink("/proc/self/ns/user")

    def death_notice(self) -> str | None:
        """None while the holder runs; else what ``unshare`` said (user namespaces refused)."""
        code = self._popen.poll()
        if code is None:
            return None
        stderr: IO[bytes] | None = self._popen.stderr
        text = stderr.read().decode(errors="replace").strip() if stderr else ""
        return f"unshare exited with code {code}: {text or 'no message'}"

    def network_namespace(self) -> str:
        """``net:[inode]``: identifies the lab's namespace in /proc/PID/ns/net of any process."""
        return os.readlink(f"/proc/{self.pid}/ns/net")

    def stop(self, grace: float = 5.0) -> None:
        """Close the pipe (``cat`` ends at EOF), then make sure; safe to call twice."""
        with contextlib.suppress(OSError):
            if self._popen.stdin is not None:
                self._popen.stdin.close()
        try:
            self._popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self._popen.kill()
            self._popen.wait(timeout=grace)
        if self._popen.stderr is not None:
            self._popen.stderr.close()


def namespace_members(net_namespace: str) -> list[int]:
    """Pids of this user's processes inside the network namespace ``net:[inode]``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "ns" / "net") == net_namespace:
                members.append(int(entry.name))
        except OSError:
            continue  # gone, or not ours to look at
    return members


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _enter(holder_pid: int, capabilities: Sequence[int] = LAB_CAPABILITIES) -> None:
    """setns into the holder's user, then network namespace; keep ``capabilities`` over exec."""
    libc = ctypes.CDLL(None, use_errno=True)

    def check(result: int, what: str) -> None:
        if result != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"{what}: {os.strerror(errno)}")

    for kind, flag in (("user", CLONE_NEWUSER), ("net", CLONE_NEWNET)):
        fd = os.open(f"/proc/{holder_pid}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            check(libc.setns(fd, flag), f"setns {kind} of pid {holder_pid}")
        finally:
            os.close(fd)
    header = _CapHeader(_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    check(libc.capget(ctypes.byref(header), data), "capget")
    for cap in capabilities:
        data[cap // 32].inheritable |= 1 << (cap % 32)
    check(libc.capset(ctypes.byref(header), data), "capset")
    for cap in capabilities:
        check(libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0), f"raise cap {cap}")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m httpboot_harness.userns HOLDER_PID -- PROGRAM ARGS...``"""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 3 or args[1] != "--" or not args[0].isdigit():
        print("usage: python -m httpboot_harness.userns HOLDER_PID -- PROGRAM [ARGS...]",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        _enter(int(args[0]))
    except OSError as exc:
        print(f"httpboot_harness.userns: cannot enter the lab: {exc}", file=sys.stderr)
        return 125
    try:
        os.execvp(args[2], args[2:])
    except OSError as exc:
        print(f"httpboot_harness.userns: cannot run {args[2]}: {exc}", file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main())
