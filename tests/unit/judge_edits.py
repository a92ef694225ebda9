"""Edits of recorded evidence that break (or keep) exactly one link of a proof."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from httpboot_harness.evidence import Evidence, judge
from httpboot_harness.netcapture import NetEvent
from httpboot_harness.services.dnsmasq import Dhcp4Exchange
from httpboot_harness.services.lighttpd import AccessRecord

from .recorded_runs import RECORDED, expected_of, load, recorded_names

V4_CLIENT, V6_CLIENT = "192.168.111.102", "2001:db8:f00f:cafe::42:98"


def booted(keep: Callable[[Evidence], bool] = lambda _ev: True) -> list[str]:
    """The recorded runs that booted, whose evidence ``keep`` selects (for parametrize)."""
    names = [n for n in recorded_names() if expected_of(RECORDED, n)["verdict"] == "booted"]
    return [n for n in names if keep(load(RECORDED, n))]


def stop(ev: Evidence) -> tuple[str, str | None]:
    judgement = judge(ev)
    return judgement.verdict, judgement.phase


def servers(ev: Evidence, **changes: Any) -> Evidence:
    return dataclasses.replace(ev, servers=dataclasses.replace(ev.servers, **changes))


def console(ev: Evidence, **changes: Any) -> Evidence:
    return dataclasses.replace(ev, console=dataclasses.replace(ev.console, **changes))


def access(ev: Evidence, edit: Callable[[AccessRecord], AccessRecord | None]) -> Evidence:
    """Each access-log record through ``edit`` (None drops it)."""
    edited = [edit(r) for r in ev.access]
    return servers(ev, access=[r for r in edited if r is not None])


def the_get(**changes: Any) -> Callable[[AccessRecord], AccessRecord]:
    """An edit of the GET records only (the HEAD before it stays as recorded)."""

    def edit(record: AccessRecord) -> AccessRecord:
        return dataclasses.replace(record, **changes) if record.method == "GET" else record

    return edit


def other_family_client(record: AccessRecord) -> AccessRecord:
    other = V6_CLIENT if ":" not in record.client else V4_CLIENT
    return dataclasses.replace(record, client=other)


def dhcp4(ev: Evidence, **changes: Any) -> Evidence:
    """Every DHCPv4 exchange with ``changes``."""
    edited: list[Dhcp4Exchange] = [dataclasses.replace(x, **changes) for x in ev.servers.dhcp4]
    return servers(ev, dhcp4=edited)


def dhcp6(ev: Evidence, **changes: Any) -> Evidence:
    return servers(ev, dhcp6=dataclasses.replace(ev.servers.dhcp6, **changes))


def network(ev: Evidence, edit: Callable[[NetEvent], NetEvent | None]) -> Evidence:
    """Each captured event through ``edit`` (None drops it)."""
    assert ev.network is not None, "this edit needs a recorded capture"
    edited = [edit(e) for e in ev.network]
    return dataclasses.replace(ev, network=[e for e in edited if e is not None])


def events(what: str, detail: Callable[[str], str] | None) -> Callable[[NetEvent], NetEvent | None]:
    """An edit of the events named ``what``: a new detail, or dropped when ``detail`` is None."""

    def edit(event: NetEvent) -> NetEvent | None:
        if event.what != what:
            return event
        if detail is None:
            return None
        return dataclasses.replace(event, detail=detail(event.detail))

    return edit
