"""A catalogue of bad requests for the scoring service, and :func:`probe`, which sends each one to a running service.

Every entry must get a 4xx (its ``expect`` range), never a 5xx, and none of its ``secrets`` (values the request
sends that the service must refuse without logging them) may reach the server's log. ``item`` is the item of
issue 13 it checks; ``needs`` names the work it depends on beyond the HTTP edge ("schemas": the request schema's
numeric bounds, strict numbers and per-record caps).

Used by ``tests/faults/test_service_faults.py`` against a real ``b2bscore serve``, and usable by a benchmark.
The records are self-contained: any trained home scores them.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import requests

LEAD = {
    "as_of": "2025-12-31T23:59:25",
    "account": {"account_id": "A0000424", "name": "Solex Works", "industry": "manufacturing", "employees": 1428,
                "annual_revenue": 840053000.0, "country": "SE", "region": "emea", "founded_year": 1980,
                "ownership": "private", "funding_stage": "none"},
    "lead": {"lead_id": "L00001192", "account_id": "A0000424", "created_at": "2025-10-03T05:35:13",
             "source": "content_syndication", "job_title": "IT Security Manager", "buying_role": "gatekeeper"},
    "technographics": [{"technology": "slack", "category": "collaboration", "first_seen_at": "2021-01-17T00:00:00",
                        "last_seen_at": "2025-07-13T00:00:00"}],
    "activities": [{"occurred_at": "2023-01-02T12:24:29", "activity_type": "web_visit", "value": 3.0}],
    "intent": [{"week_start": "2023-01-16T00:00:00", "topic": "sales_analytics", "score": 12.8}],
}
ACCOUNT = {
    "as_of": "2025-12-31T23:59:25",
    "account": {"account_id": "A0000004", "name": "Merara Labs", "industry": "software", "employees": 4882,
                "annual_revenue": 1010442000.0, "country": "AU", "region": "apac", "founded_year": 1961,
                "ownership": "private", "funding_stage": "private_equity"},
    "activities": [{"occurred_at": "2023-01-02T15:48:25", "activity_type": "product_login", "value": 22.5}],
    "revenue": [{"invoice_at": "2023-01-01T00:00:00", "amount": 7528.09},
                {"invoice_at": "2023-02-01T00:00:00", "amount": 7528.09}],
}
JSON = {"Content-Type": "application/json"}
BIG = 11 * 2**20
"""Over the default body limit (max_body_mb 10)."""
DIGITS_401 = "9" * 401
SECRET_ACCOUNT = "ACCT-SECRET-7731"


@dataclass(frozen=True)
class BadRequest:
    name: str
    item: int
    body: Callable[[], bytes] = lambda: b""
    path: str = "/score_leads"
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON))
    expect: tuple[int, int] = (400, 400)
    needs: str | None = None
    secrets: tuple[str, ...] = ()
    chunked: bool = False
    authorised: bool = True


@dataclass(frozen=True)
class ProbeResult:
    name: str
    item: int
    status: int | None
    expected: tuple[int, int]
    needs: str | None
    answer: str

    @property
    def ok(self) -> bool:
        return self.status is not None and self.expected[0] <= self.status <= self.expected[1]


def _lead(change: Callable[[dict], object] | None = None, *, n: int = 1, raw: dict[str, str] | None = None) -> Callable[[], bytes]:
    """A ``score_leads`` body of ``n`` copies of :data:`LEAD`, changed by ``change``; ``raw`` replaces the JSON text
    of a marker value with text no JSON encoder writes (``1e400``, 401 digits)."""
    def build() -> bytes:
        record = copy.deepcopy(LEAD)
        if change is not None:
            change(record)
        text = json.dumps({"leads": [record] * n})
        for marker, replacement in (raw or {}).items():
            text = text.replace(json.dumps(marker), replacement)
        return text.encode()
    return build


def _account(change: Callable[[dict], object]) -> Callable[[], bytes]:
    def build() -> bytes:
        record = copy.deepcopy(ACCOUNT)
        change(record)
        return json.dumps({"accounts": [record]}).encode()
    return build


def _set(path: str, value) -> Callable[[dict], None]:
    def change(record: dict) -> None:
        *parents, last = path.split(".")
        target = record
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value
    return change


def _padded() -> bytes:
    body = json.dumps({"leads": [LEAD]}).encode()
    return body + b" " * (BIG - len(body))


CATALOGUE: tuple[BadRequest, ...] = (
    # item 7: values that overflowed into a 500
    BadRequest("annual_revenue Infinity", 7, _lead(_set("account.annual_revenue", float("inf"))), needs="schemas"),
    BadRequest("employees with 401 digits", 7, _lead(_set("account.employees", "@401"), raw={"@401": DIGITS_401}),
               needs="schemas", secrets=(DIGITS_401,)),
    BadRequest("annual_revenue 1e400", 7, _lead(_set("account.annual_revenue", "@1e400"), raw={"@1e400": "1e400"}),
               needs="schemas"),
    BadRequest("annual_revenue NaN", 7, _lead(_set("account.annual_revenue", float("nan"))), needs="schemas"),
    BadRequest("multipart/form-data without a boundary", 7, lambda: b"leads=[]",
               headers={"Content-Type": "multipart/form-data"}, expect=(400, 415)),
    BadRequest("multipart/form-data with a broken body", 7, lambda: b"this is no multipart body",
               headers={"Content-Type": "multipart/form-data; boundary=xyz"}, expect=(400, 415)),
    BadRequest("form-urlencoded body", 7, lambda: b"leads=1", headers={"Content-Type": "application/x-www-form-urlencoded"},
               expect=(400, 415)),
    BadRequest("BentoML pickle body", 7, lambda: b"\x80\x04N.", headers={"Content-Type": "application/vnd.bentoml+pickle"},
               expect=(400, 415)),
    # item 8: absurd values silently accepted
    BadRequest("employees true", 8, _lead(_set("account.employees", True)), needs="schemas"),
    BadRequest("employees 2^63", 8, _lead(_set("account.employees", 2**63)), needs="schemas"),
    BadRequest("employees negative", 8, _lead(_set("account.employees", -5))),
    BadRequest("founded_year 3000", 8, _lead(_set("account.founded_year", 3000)), needs="schemas"),
    BadRequest("annual_revenue 1e308", 8, _lead(_set("account.annual_revenue", 1e308)), needs="schemas"),
    BadRequest("as_of in the year 1", 8, _lead(_set("as_of", "0001-01-01T00:00:00")), needs="schemas"),
    BadRequest("invoice amount Infinity", 8, _account(_set("revenue.0.amount", float("inf"))), path="/score_accounts",
               needs="schemas"),
    BadRequest("activity value 1e308", 8, _lead(_set("activities.0.value", 1e308)), needs="schemas"),
    # item 9: size
    BadRequest("an 11 MB body", 9, _padded, expect=(413, 413)),
    BadRequest("an 11 MB chunked body", 9, _padded, expect=(413, 413), chunked=True),
    BadRequest("20,001 activities in one record", 9,
               _lead(_set("activities", [LEAD["activities"][0]] * 20_001)), expect=(400, 413), needs="schemas"),
    BadRequest("over the maximum batch", 9, _lead(n=1001)),
    # item 11: paths and the key
    BadRequest("unknown path", 11, path="/no-such-endpoint", method="GET", headers={}, expect=(404, 404)),
    BadRequest("unknown path without a key", 11, path="/wp-admin.php", method="GET", headers={}, expect=(404, 404),
               authorised=False),
    BadRequest("/metrics without a key", 11, path="/metrics", method="GET", headers={}, expect=(401, 401),
               authorised=False),
    BadRequest("scoring without a key", 11, _lead(), expect=(401, 401), authorised=False),
    BadRequest("GET on a scoring endpoint", 11, path="/score_leads", method="GET", headers={}, expect=(405, 405)),
    # item 12: refused values that must not reach the log
    BadRequest("lead on another account", 12, _lead(_set("lead.account_id", SECRET_ACCOUNT)), secrets=(SECRET_ACCOUNT,)),
    BadRequest("activity after as_of", 12, _lead(_set("activities.0.occurred_at", "2099-01-01T07:31:09")),
               secrets=("2099-01-01",)),
    BadRequest("unknown activity type", 12, _lead(_set("activities.0.activity_type", "telepathy-sync")),
               secrets=("telepathy-sync",)),
    BadRequest("employees as text", 12, _lead(_set("account.employees", "very-many-people")),
               secrets=("very-many-people",)),
    # plain malformed requests
    BadRequest("malformed JSON", 7, lambda: b'{"leads": [}'),
    BadRequest("body not UTF-8", 7, lambda: b'{"leads": ["\xff\xfe"]}'),
    BadRequest("empty body", 7, lambda: b""),
    BadRequest("empty batch", 7, lambda: b'{"leads": []}'),
    BadRequest("leads not a list", 7, lambda: b'{"leads": {"a": 1}}'),
    BadRequest("JSON nested 10,000 deep", 7, lambda: b'{"leads": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"),
    BadRequest("unknown field", 7, _lead(_set("account.favourite_colour", "teal"))),
    BadRequest("missing required field", 7, _lead(lambda r: r["account"].pop("account_id"))),
    BadRequest("unknown category", 7, _lead(_set("account.ownership", "pirate-crew"))),
    BadRequest("accounts not a list", 7, lambda: b'{"accounts": "x"}', path="/score_accounts"),
)


def probe(url: str, key: str | None, catalogue: tuple[BadRequest, ...] = CATALOGUE, *,
          timeout: float = 60) -> list[ProbeResult]:
    """Send every request of ``catalogue`` to the service at ``url`` (with ``key`` where the entry is authorised)."""
    results = []
    with requests.Session() as session:
        for entry in catalogue:
            headers = dict(entry.headers)
            if entry.authorised and key:
                headers["Authorization"] = f"Bearer {key}"
            body = entry.body()
            data = _chunks(body) if entry.chunked else body
            try:
                response = session.request(entry.method, f"{url}{entry.path}", data=data or None, headers=headers,
                                           timeout=timeout)
                status, answer = response.status_code, response.text[:300]
            except requests.RequestException as exc:
                status, answer = None, f"{type(exc).__name__}: {exc}"[:300]
            results.append(ProbeResult(entry.name, entry.item, status, entry.expect, entry.needs, answer))
    return results


def _chunks(body: bytes, size: int = 2**16) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start:start + size]


def secrets(catalogue: tuple[BadRequest, ...] = CATALOGUE) -> set[str]:
    """Every value the catalogue sends that the server's log must not hold."""
    return {secret for entry in catalogue for secret in entry.secrets}
