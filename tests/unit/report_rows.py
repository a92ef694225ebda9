"""Report rows shaped like ``CaseResult.to_report()``, with timelines as real boots write them."""

from __future__ import annotations

from typing import Any

IPV6_HTTPS_TIMELINE = [
    (0.05, "console", "firmware starts", ""),
    (4.2, "harness", "firmware reached the boot option", ""),
    (5.1, "network", "DHCPv6 SOLICIT", "vendor class HTTPClient"),
    (6.0, "network", "DHCPv6 REPLY", "vendor class HTTPClient, boot URL https://x/boot.efi"),
    (8.1, "network", "DNS query", "AAAA x"),
    (8.2, "network", "DNS answer", "AAAA x: 1 record(s)"),
    (8.3, "network", "TCP connected", "port 443"),
    (8.4, "network", "TLS ClientHello", "from the client"),
    (9.9, "console", "firmware knows the file size (HEAD answered)", "File Size: 123"),
    (11.0, "network", "last byte", "from port 443"),
    (11.8, "console", "image output", "HTTPBOOT-PROOF"),
    (12.3, "qmp", "QMP SHUTDOWN", "guest"),
]
PRESET_TIMELINE = [
    (3.0, "network", "DHCPv4 DISCOVER", "vendor class HTTPClient"),
    (3.4, "network", "DHCPv4 ACK", "vendor class HTTPClient"),
    (3.5, "network", "DNS query", "A x"),
    (3.6, "network", "DNS answer", "A x: 1 record(s)"),
    (3.7, "network", "TCP connected", "port 80"),
    (3.9, "console", "firmware knows the file size (HEAD answered)", "File Size: 123"),
    (4.5, "network", "last byte", "from port 80"),
    (5.0, "console", "image output", "HTTPBOOT-PROOF"),
    (5.2, "qmp", "QMP SHUTDOWN", "guest"),
]
UNTRUSTED_TIMELINE = [
    (4.0, "harness", "firmware reached the boot option", ""),
    (5.0, "network", "DHCPv4 DISCOVER", "vendor class HTTPClient"),
    (5.4, "network", "DHCPv4 ACK", "vendor class HTTPClient"),
    (5.6, "network", "DNS query", "A x"),
    (5.7, "network", "DNS answer", "A x: 1 record(s)"),
    (5.8, "network", "TCP connected", "port 443"),
    (7.5, "console", "firmware reports an error", "Error: Could not retrieve NBP file size"),
]


def row(case_id: str, timeline: list[tuple[float, str, str, str]], **fields: Any) -> dict[str, Any]:
    booted = fields.get("verdict", "booted") == "booted"
    base: dict[str, Any] = {
        "id": case_id,
        "arch": "x86_64",
        "verdict": "booted",
        "phase": None,
        "accel": "tcg",
        "timings": {"total": timeline[-1][0] + 3.0, "firmware": 11.8},
        "artifacts": f"/nonexistent/artifacts/{case_id}",
        "expected": "booted",
        "expected_phase": None,
        "met_expectation": True,
        "summary": "booted: the image ran" if booted else "refused at tls",
        "cause": None,
        "error": None,
        "console_tail": ["Start HTTP Boot over IPv4", "Error: Could not retrieve NBP file size"],
        "log_tails": {"lighttpd error": ["SSL: alert unknown ca <&>"]},
        "timeline": [
            {"seconds": s, "source": src, "what": what, "detail": detail}
            for s, src, what, detail in timeline
        ],
    }
    base.update(fields)
    return base


def default_rows() -> list[dict[str, Any]]:
    return [
        row("ipv6-https", IPV6_HTTPS_TIMELINE),
        row("ipv4-http-preset", PRESET_TIMELINE),
        row("ipv4-https-untrusted", UNTRUSTED_TIMELINE, verdict="refused", phase="tls",
            expected="refused", expected_phase="tls", cause="the CA is not enrolled"),
    ]  # fmt: skip
