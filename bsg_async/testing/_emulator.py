"""The emulator's core: state of one BSG account and the API's answers.

This module knows HTTP only as data (method, path, query pairs, headers,
body bytes in; status, headers, body bytes out), so the in-process transport
and the ASGI app share it. It imports nothing of the SDK: it is written from
the API's documentation, so it cannot come to agree with an SDK bug.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

if TYPE_CHECKING:
    from bsg_async import Client
    from bsg_async.testing._server import EmulatorServer
    from bsg_async.testing._transport import EmulatorTransport

__all__ = ["DEFAULT_KEY", "IN_PROCESS_URL", "FakeBSG", "Faults", "Reply"]

DEFAULT_KEY = "test_emulator_key"
# Base URL of in-process clients: a .localhost name, so nothing can resolve
# it to a real host.
IN_PROCESS_URL = "http://bsg-emulator.localhost/api"
MIN_PHONE = 100_000_000
MAX_PHONE = 999_999_999_999_999
STOPLIST_TYPES = ("sms", "viber", "rcs", "whatsapp")
_JSON = {"content-type": "application/json"}
_FIRST_NAMES = ("Alesha", "Ilya", "Dobrynya", "Vasilisa", "Marya", "Taras", "Olena", "Ivan")
_LAST_NAMES = ("Popovich", "Muromets", "Nikitich", "Shevchenko", "Prekrasnaya", "Mudraya")


@dataclass
class Reply:
    """One answer of the emulator.

    ``action`` tells the adapter how to deliver it: ``"send"``; ``"drop"``
    (close the connection without a complete answer); ``delay`` adds seconds
    before answering.
    """

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    action: str = "send"
    delay: float = 0.0


@dataclass
class Faults:
    """Injected failures, each a fraction of the requests in [0, 1].

    Attributes:
        error_500: Answer 500 with the API's JSON error body.
        error_502_html: Answer 502 with a proxy's HTML page.
        error_503_retry_after: Answer 503 with ``Retry-After``.
        drop: Close the connection without a complete answer.
        slow: Delay the answer by ``slow_seconds`` (to trip timeouts).
        latency: Seconds added to every answer.
        retry_after: Seconds sent in ``Retry-After``.
        after_apply: Of the faults hitting a request that changes state,
            the fraction that strike after the change was made (the client
            cannot tell whether it was applied).
        include_auth: Whether login and refresh can fail too.
        seed: Seed of the fault dice (same seed, same faults).
    """

    error_500: float = 0.0
    error_502_html: float = 0.0
    error_503_retry_after: float = 0.0
    drop: float = 0.0
    slow: float = 0.0
    slow_seconds: float = 5.0
    latency: float = 0.0
    retry_after: float = 1.0
    after_apply: float = 0.5
    include_auth: bool = False
    seed: int = 0

    @classmethod
    def mixed(cls, rate: float, *, seed: int = 0, **options: Any) -> Faults:  # noqa: ANN401
        """Spread ``rate`` evenly over 500, HTML 502, 503 and dropped connections."""
        share = rate / 4
        return cls(
            error_500=share,
            error_502_html=share,
            error_503_retry_after=share,
            drop=share,
            seed=seed,
            **options,
        )

    def kinds(self) -> list[tuple[str, float]]:
        """(kind, probability) of every fault that is switched on."""
        table = [
            ("500", self.error_500),
            ("502", self.error_502_html),
            ("503", self.error_503_retry_after),
            ("drop", self.drop),
            ("slow", self.slow),
        ]
        return [(kind, p) for kind, p in table if p > 0]


class _Error(Exception):
    """An API error answer raised inside a handler."""

    def __init__(self, status: int, message: str, errors: object = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = [] if errors is None else errors


def _json(status: int, payload: object) -> Reply:
    return Reply(status, json.dumps(payload, separators=(",", ":")).encode(), dict(_JSON))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (method, re.compile(f"^/api{pattern}$"), name)
    for method, pattern, name in [
        ("POST", "/auth/login", "login"),
        ("POST", "/auth/refresh", "refresh"),
        ("GET", "/contacts", "contacts_list"),
        ("POST", "/contacts", "contact_create"),
        ("GET", "/contacts/search", "contacts_search"),
        ("POST", "/contacts/delete", "contacts_delete"),
        ("GET", "/contacts/fields", "fields_list"),
        ("POST", "/contacts/fields", "field_create"),
        ("POST", "/contacts/fields/delete", "fields_delete"),
        ("PATCH", r"/contacts/fields/(?P<id>\d+)", "field_update"),
        ("GET", r"/contacts/(?P<id>-?\d+)", "contact_get"),
        ("PUT", r"/contacts/(?P<id>-?\d+)", "contact_update"),
        ("DELETE", r"/contacts/(?P<id>-?\d+)", "contact_delete"),
        ("GET", "/groups", "groups_list"),
        ("POST", "/groups", "group_create"),
        ("GET", "/groups/search", "groups_search"),
        ("POST", "/groups/attach", "groups_attach"),
        ("POST", "/groups/detach", "groups_detach"),
        ("GET", r"/groups/(?P<id>\d+)", "group_get"),
        ("PUT", r"/groups/(?P<id>\d+)", "group_update"),
        ("DELETE", r"/groups/(?P<id>\d+)", "group_delete"),
        ("GET", "/stoplist", "stoplist_list"),
        ("GET", "/stoplist/search", "stoplist_search"),
        ("POST", "/stoplist/attach", "stoplist_attach"),
        ("POST", "/stoplist/detach", "stoplist_detach"),
    ]
]
_MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_AUTH_ROUTES = frozenset({"login", "refresh"})


class FakeBSG:
    """An in-memory, stateful emulator of the BSG Contacts family.

    Args:
        api_keys: Keys that may log in (default: ``DEFAULT_KEY``).
        token_ttl: Seconds a JWT lives.
        seed_contacts: Contacts to generate at start (deterministic).
        seed: Seed of the generated data.
        duplicate_window: Seconds within which an identical POST answers
            429 "Too many duplicate request detected" (0 disables).
        faults: Failures to inject (see ``Faults``).
        clock: Wall-clock seconds since the epoch; ``advance()`` adds to it.

    Attributes:
        stats: Counters of what the emulator received, e.g.
            ``stats["route:contact_create"]``, ``stats["logins"]``,
            ``stats["fault:502"]``, ``stats["status:201"]``.
        request_times: Emulator-clock time of every request received.
    """

    def __init__(
        self,
        *,
        api_keys: tuple[str, ...] = (DEFAULT_KEY,),
        token_ttl: float = 3600.0,
        seed_contacts: int = 0,
        seed: int = 0,
        duplicate_window: float = 1.0,
        faults: Faults | None = None,
        clock: Any = time.time,  # noqa: ANN401 - any zero-argument callable returning float
    ) -> None:
        self.api_keys = set(api_keys)
        self.token_ttl = token_ttl
        self.duplicate_window = duplicate_window
        self._clock = clock
        self._skew = 0.0
        self._lock = threading.RLock()
        self.faults = faults or Faults()  # also seeds the fault dice
        self._secret = hashlib.sha256(f"bsg-emulator-{seed}".encode()).digest()
        self._revoked: set[str] = set()
        self._throttle: float | None = None
        self._recent_posts: dict[tuple[str, bytes, str], float] = {}
        self.stats: Counter[str] = Counter()
        self.request_times: list[float] = []
        self.contacts: dict[int, dict[str, Any]] = {}
        self.groups: dict[int, dict[str, Any]] = {}
        self.fields: dict[int, dict[str, Any]] = {}
        self.stoplist: dict[int, dict[str, Any]] = {}
        self._phones: dict[int, int] = {}
        self._stop_phones: dict[int, int] = {}
        self._next = {
            "contact": 248_452_739,
            "group": 1_864_618,
            "field": 387_714,
            "stop": 24_142_096,
        }
        if seed_contacts:
            self.seed_contacts(seed_contacts, seed=seed)

    # ----------------------------------------------------------------- setup

    @property
    def faults(self) -> Faults:
        """The failures being injected; assigning new ones reseeds the dice."""
        return self._faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        with self._lock:
            self._faults = faults
            self._dice = random.Random(faults.seed)  # noqa: S311 - test data

    def now(self) -> float:
        """The emulator's wall clock (seconds since the epoch)."""
        return float(self._clock()) + self._skew

    def advance(self, seconds: float) -> None:
        """Move the emulator's clock forward (expires tokens without waiting)."""
        with self._lock:
            self._skew += seconds

    def _stamp(self) -> str:
        return datetime.fromtimestamp(self.now(), tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")

    def _new_id(self, kind: str) -> int:
        value = self._next[kind]
        self._next[kind] = value + 1
        return value

    def seed_contacts(self, count: int, *, seed: int = 0) -> list[int]:
        """Generate ``count`` contacts (deterministic from ``seed``); return their ids."""
        rng = random.Random(seed)  # noqa: S311 - test data
        with self._lock:
            if not self.fields:
                self._add_field("Name", "text", "Generated name", is_visible=True)
            field_id = next(iter(self.fields))
            group = self._add_group(f"Seeded {count}", "generated contacts", default=False)
            ids: list[int] = []
            base = 380_500_000_000 + rng.randrange(0, 10_000_000) * 10_000
            for number in range(count):
                phone = base + number
                while phone in self._phones:
                    phone += 1
                name = f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}"
                ids.append(self._add_contact(phone, [group["id"]], {field_id: name}))
            return ids

    def _add_field(
        self, name: str, kind: str, description: str | None, *, is_visible: bool
    ) -> dict[str, Any]:
        record: dict[str, Any] = {
            "id": self._new_id("field"),
            "name": name,
            "type": kind,
            "description": description,
            "is_visible": is_visible,
        }
        self.fields[record["id"]] = record
        return record

    def _add_group(self, name: str, description: str | None, *, default: bool) -> dict[str, Any]:
        record: dict[str, Any] = {
            "id": self._new_id("group"),
            "name": name,
            "description": description,
            "default": default,
            "created_at": self._stamp(),
            "members": set(),
        }
        self.groups[record["id"]] = record
        return record

    def _add_contact(self, phone: int, groups: list[int], values: dict[int, str]) -> int:
        contact_id = self._new_id("contact")
        self.contacts[contact_id] = {
            "id": contact_id,
            "phone": phone,
            "fields": dict(values),
            "groups": list(dict.fromkeys(groups)),
            "created_at": self._stamp(),
            "hlr_status": "unknown",
            "hlr_last_check": None,
        }
        self._phones[phone] = contact_id
        for group_id in groups:
            self.groups[group_id]["members"].add(contact_id)
        return contact_id

    def issue_token(self, *, ttl: float | None = None) -> str:
        """A valid JWT for this emulator (as a login would answer)."""
        now = self.now()
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims = {
            "iat": int(now),
            "exp": now + (self.token_ttl if ttl is None else ttl),
            "jti": self._dice.getrandbits(64),
        }
        payload = _b64(json.dumps(claims).encode())
        signature = _b64(
            hmac.new(self._secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        )
        return f"{header}.{payload}.{signature}"

    def throttle(self, retry_after: float) -> None:
        """Answer the next request with 429 and ``Retry-After: retry_after``."""
        with self._lock:
            self._throttle = retry_after

    def revoke(self, token: str) -> None:
        """Make a token answer 401 from now on."""
        with self._lock:
            self._revoked.add(token)

    # ------------------------------------------------------------ adapters

    def transport(self) -> EmulatorTransport:
        """An httpx transport answering from this emulator, in process."""
        from bsg_async.testing._transport import EmulatorTransport  # noqa: PLC0415

        return EmulatorTransport(self)

    def serve(self, *, host: str = "127.0.0.1", port: int = 0) -> EmulatorServer:
        """A loopback HTTP server for this emulator (use it with ``with``)."""
        from bsg_async.testing._server import EmulatorServer  # noqa: PLC0415

        return EmulatorServer(self, host=host, port=port)

    def client(self, **options: Any) -> Client:  # noqa: ANN401
        """A ``bsg_async.Client`` wired to this emulator in process.

        Args:
            **options: Any ``Client`` option (``max_retries``, ``rate_limit`` ...).
        """
        from bsg_async import Client  # noqa: PLC0415 - the SDK is the user here

        options.setdefault("api_key", next(iter(sorted(self.api_keys))))
        options.setdefault("base_url", IN_PROCESS_URL)
        return Client(transport=self.transport(), **options)

    # ------------------------------------------------------------- dispatch

    def handle(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Reply:
        """Answer one request.

        Args:
            method: HTTP method.
            path: URL path, e.g. ``/api/contacts``.
            query: Raw query string.
            headers: Request headers with lower-case names.
            body: Raw request body.
        """
        with self._lock:
            self.request_times.append(self.now())
            name, match = self._route(method, path)
            self.stats[f"route:{name}"] += 1
            if self._throttle is not None:
                reply = Reply(
                    429,
                    b'{"message":"Too Many Attempts."}',
                    {**_JSON, "retry-after": f"{self._throttle:g}"},
                )
                self._throttle = None
                self.stats["throttled"] += 1
            else:
                reply = self._faulty(method, name, match, query, headers, body)
            reply.delay += self.faults.latency
            self.stats[f"status:{reply.status}"] += 1
            return reply

    def _route(self, method: str, path: str) -> tuple[str, dict[str, str]]:
        allowed = False
        for route_method, pattern, name in _ROUTES:
            match = pattern.match(path)
            if match:
                if route_method == method:
                    return name, match.groupdict()
                allowed = True
        return ("method_not_allowed" if allowed else "not_found"), {}

    def _roll(self, name: str) -> str | None:
        if name in _AUTH_ROUTES and not self.faults.include_auth:
            return None
        point = self._dice.random()
        for kind, probability in self.faults.kinds():
            if point < probability:
                return kind
            point -= probability
        return None

    def _fault_reply(self, kind: str) -> Reply:
        self.stats[f"fault:{kind}"] += 1
        if kind == "500":
            return _json(500, {"message": "Server Error"})
        if kind == "502":
            page = (
                b"<html><head><title>502 Bad Gateway</title></head><body>"
                b"<center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center>"
                b"</body></html>"
            )
            return Reply(502, page, {"content-type": "text/html"})
        if kind == "503":
            return Reply(
                503,
                b'{"message":"Service Unavailable"}',
                {**_JSON, "retry-after": str(self.faults.retry_after)},
            )
        if kind == "slow":
            return Reply(200, b"", dict(_JSON), action="slow", delay=self.faults.slow_seconds)
        return Reply(502, b"", {}, action="drop")

    def _faulty(
        self,
        method: str,
        name: str,
        match: dict[str, str],
        query: str,
        headers: dict[str, str],
        body: bytes,
    ) -> Reply:
        kind = self._roll(name)
        if kind is None:
            return self._answer(method, name, match, query, headers, body)
        strike_after = (
            method in _MUTATING and kind != "slow" and self._dice.random() < self.faults.after_apply
        )
        if strike_after:
            self.stats["fault:after_apply"] += 1
            self._answer(method, name, match, query, headers, body)
        fault = self._fault_reply(kind)
        if kind == "slow":
            # The answer comes, but too late for a client with a short timeout.
            real = self._answer(method, name, match, query, headers, body)
            real.delay = fault.delay
            return real
        return fault

    def _answer(
        self,
        method: str,
        name: str,
        match: dict[str, str],
        query: str,
        headers: dict[str, str],
        body: bytes,
    ) -> Reply:
        if name == "not_found":
            return _json(404, {"message": "Not Found"})
        if name == "method_not_allowed":
            return _json(405, {"message": "Method Not Allowed"})
        try:
            if name == "login":
                return self._login(body)
            token = self._authenticate(headers)
            if method == "POST":
                duplicate = self._duplicate(name, body, token)
                if duplicate is not None:
                    return duplicate
            handler = getattr(self, f"_op_{name}")
            params = parse_qsl(query, keep_blank_values=True)
            reply: Reply = handler(match=match, params=params, body=body, token=token)
        except _Error as error:
            payload: dict[str, object] = {"message": error.message}
            if error.status != 401:
                payload["errors"] = error.errors
            return _json(error.status, payload)
        return reply

    # ------------------------------------------------------------------ auth

    def _login(self, body: bytes) -> Reply:
        data = _load(body)
        key = data.get("api_key") if isinstance(data, dict) else None
        if not isinstance(key, str) or key not in self.api_keys:
            self.stats["rejected_logins"] += 1
            raise _Error(401, "Invalid api key")
        self.stats["logins"] += 1
        return _json(200, {"bearer": self.issue_token()})

    def _authenticate(self, headers: dict[str, str]) -> str:
        value = headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise _Error(401, "Unauthenticated.")
        parts = token.split(".")
        if len(parts) != 3 or token in self._revoked:
            raise _Error(401, "Unauthenticated.")
        expected = _b64(
            hmac.new(self._secret, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        )
        if not hmac.compare_digest(expected, parts[2]):
            raise _Error(401, "Unauthenticated.")
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        if self.now() >= claims["exp"]:
            self.stats["expired_tokens"] += 1
            raise _Error(401, "Unauthenticated.")
        return token

    def _op_refresh(self, *, token: str, **_: object) -> Reply:
        self.stats["refreshes"] += 1
        self._revoked.add(token)
        return _json(200, {"bearer": self.issue_token()})

    def _duplicate(self, name: str, body: bytes, token: str) -> Reply | None:
        if self.duplicate_window <= 0:
            return None
        now = self.now()
        key = (name, body, token)
        if len(self._recent_posts) > 10_000:
            self._recent_posts = {
                k: t for k, t in self._recent_posts.items() if now - t < self.duplicate_window
            }
        last = self._recent_posts.get(key)
        self._recent_posts[key] = now
        if last is not None and now - last < self.duplicate_window:
            self.stats["duplicates_detected"] += 1
            return _json(429, {"message": "Too many duplicate request detected"})
        return None

    # -------------------------------------------------------------- helpers

    @staticmethod
    def _page(params: list[tuple[str, str]], default_limit: int) -> tuple[int, int]:
        values = dict(params)
        errors: dict[str, list[str]] = {}
        limit = _int_param(values.get("page[limit]"), default_limit)
        offset = _int_param(values.get("page[offset]"), 0)
        if limit is None or not 15 <= limit <= 500:
            errors["page.limit"] = ["The page.limit must be between 15 and 500."]
        if offset is None or offset < 0:
            errors["page.offset"] = ["The page.offset must be at least 0."]
        if errors or limit is None or offset is None:
            raise _Error(422, "The given data was invalid.", errors)
        return limit, offset

    def _lists_view(
        self, contacts: list[dict[str, Any]], *, counts: bool = True
    ) -> dict[int, dict[str, Any]]:
        """The lists these contacts belong to, as embedded, computed once per answer."""
        wanted = {gid for contact in contacts for gid in contact["groups"]}
        return {
            gid: self._group_json(self.groups[gid], counts=counts)
            for gid in wanted
            if gid in self.groups
        }

    def _contact_json(
        self, contact: dict[str, Any], lists: dict[int, dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        lists = self._lists_view([contact]) if lists is None else lists
        groups = [lists[gid] for gid in contact["groups"] if gid in lists]
        values = contact["fields"]
        return {
            "id": contact["id"],
            "phone": contact["phone"],
            # The real API answers [] when a contact has no custom values.
            "fields": {str(k): v for k, v in values.items()} if values else [],
            "groups": groups,
            "hlr_status": contact["hlr_status"],
            "hlr_last_check": contact["hlr_last_check"],
            "created_at": contact["created_at"],
        }

    def _group_json(self, group: dict[str, Any], *, counts: bool = True) -> dict[str, Any]:
        out = {
            "id": group["id"],
            "name": group["name"],
            "description": group["description"],
            "default": group["default"],
            "created_at": group["created_at"],
        }
        if counts:
            stopped = sum(
                1 for cid in group["members"] if self.contacts[cid]["phone"] in self._stop_phones
            )
            out["items"] = len(group["members"])
            out["stop_list_count"] = stopped
        return out

    def _stop_json(self, entry: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": entry["id"],
            "phone": entry["phone"],
            "created_at": entry["created_at"],
            "sms_stoplist": entry["sms"],
            "viber_stoplist": entry["viber"],
            "rcs_stoplist": entry["rcs"],
        }

    def _contact_or_422(self, raw: str) -> dict[str, Any]:
        contact = self.contacts.get(int(raw))
        if contact is None:
            raise _Error(422, "Invalid contact id")
        return contact

    def _contact_body(
        self, body: bytes, *, exclude: int | None = None
    ) -> tuple[int, list[int] | None, dict[int, str] | None]:
        data = _load(body)
        if not isinstance(data, dict):
            raise _Error(422, "The given data was invalid.", {"phone": ["The phone is required."]})
        phone = data.get("phone")
        if (
            isinstance(phone, bool)
            or not isinstance(phone, int)
            or not MIN_PHONE <= phone <= MAX_PHONE
        ):
            raise _Error(
                422, "The given data was invalid.", {"phone": ["The phone must be 9 to 15 digits."]}
            )
        owner = self._phones.get(phone)
        if owner is not None and owner != exclude:
            raise _Error(422, "Phone number is already exist in contact book")
        groups = data.get("groups")
        if groups is not None:
            if not isinstance(groups, list) or len(groups) > 100:
                raise _Error(422, "The given data was invalid.", {"groups": ["Invalid groups."]})
            for group_id in groups:
                if group_id not in self.groups:
                    raise _Error(422, "Contact group is not found")
        values = data.get("fields")
        parsed: dict[int, str] | None = None
        if values is not None:
            if not isinstance(values, list):
                raise _Error(422, "The given data was invalid.", {"fields": ["Invalid fields."]})
            parsed = {}
            for pair in values:
                if not isinstance(pair, dict) or pair.get("id") not in self.fields:
                    raise _Error(422, "Contact field is not found")
                parsed[pair["id"]] = str(pair.get("value", ""))
        return phone, groups, parsed

    # ------------------------------------------------------------- contacts

    def _op_contacts_list(self, *, params: list[tuple[str, str]], **_: object) -> Reply:
        limit, offset = self._page(params, 20)
        wanted = {int(v) for k, v in params if k in {"groups[]", "groups"} and v.isdigit()}
        if wanted:
            rows = [c for c in self.contacts.values() if wanted.intersection(c["groups"])]
        else:
            rows = list(self.contacts.values())
        page = rows[offset : offset + limit]
        lists = self._lists_view(page)
        data = [self._contact_json(c, lists) for c in page]
        return _json(200, {"data": data, "total": len(rows)})

    def _op_contact_get(self, *, match: dict[str, str], **_: object) -> Reply:
        return _json(200, {"data": self._contact_json(self._contact_or_422(match["id"]))})

    def _op_contact_create(self, *, body: bytes, **_: object) -> Reply:
        phone, groups, values = self._contact_body(body)
        contact_id = self._add_contact(phone, groups or [], values or {})
        self.stats["creates"] += 1
        return _json(201, {"data": self._contact_json(self.contacts[contact_id])})

    def _op_contact_update(self, *, match: dict[str, str], body: bytes, **_: object) -> Reply:
        contact = self._contact_or_422(match["id"])
        phone, groups, values = self._contact_body(body, exclude=contact["id"])
        del self._phones[contact["phone"]]
        contact["phone"] = phone
        self._phones[phone] = contact["id"]
        if groups is not None:
            for group_id in groups:
                if group_id not in contact["groups"]:
                    contact["groups"].append(group_id)
                    self.groups[group_id]["members"].add(contact["id"])
        if values is not None:
            contact["fields"].update(values)
        # PUT answers embed lists without items/stop_list_count (as documented).
        return _json(
            200, {"data": self._contact_json(contact, self._lists_view([contact], counts=False))}
        )

    def _remove_contact(self, contact_id: int) -> None:
        contact = self.contacts.pop(contact_id)
        del self._phones[contact["phone"]]
        for group_id in contact["groups"]:
            if group_id in self.groups:
                self.groups[group_id]["members"].discard(contact_id)

    def _op_contact_delete(self, *, match: dict[str, str], **_: object) -> Reply:
        self._remove_contact(self._contact_or_422(match["id"])["id"])
        return Reply(204)

    def _op_contacts_delete(self, *, params: list[tuple[str, str]], **_: object) -> Reply:
        contact_ids = [int(v) for k, v in params if k == "contact_ids[]" and v.isdigit()]
        group_ids = [int(v) for k, v in params if k == "group_ids[]" and v.isdigit()]
        if not contact_ids and not group_ids:
            raise _Error(
                422,
                "The given data was invalid.",
                {"contact_ids": ["contact_ids or group_ids is required."]},
            )
        if len(contact_ids) > 5000:
            raise _Error(
                422, "The given data was invalid.", {"contact_ids": ["At most 5000 contact ids."]}
            )
        doomed = set(contact_ids)
        for group_id in group_ids:
            doomed.update(self.groups.get(group_id, {}).get("members", ()))
        for contact_id in doomed:
            if contact_id in self.contacts:
                self._remove_contact(contact_id)
        return Reply(204)

    def _search(
        self,
        params: list[tuple[str, str]],
        rows: list[dict[str, Any]],
        fields: dict[str, Any],
        sorts: set[str],
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        values = dict(params)
        limit, offset = self._page(params, 50)
        criteria = {
            "field": values.get("search[field]"),
            "operator": values.get("search[operator]"),
            "value": values.get("search[value]"),
        }
        if criteria["field"] is not None:
            getter = fields.get(criteria["field"]) or fields.get("*")
            operator = criteria["operator"] or "="
            if getter is None or operator not in _OPERATORS:
                raise _Error(
                    422,
                    "The given data was invalid.",
                    {"search": ["Unsupported search field or operator."]},
                )
            needle = criteria["value"] or ""
            rows = [
                row for row in rows if _compare(getter(row, criteria["field"]), operator, needle)
            ]
        sort = values.get("sort", "id")
        if sort not in sorts:
            raise _Error(422, "The given data was invalid.", {"sort": ["Unsupported sort."]})
        rows = sorted(
            rows,
            key=lambda row: (row[sort] is None, row[sort]),
            reverse=values.get("way", "asc") == "desc",
        )
        meta = {"page": {"limit": limit, "offset": offset, "total": len(rows)}, "search": criteria}
        return rows[offset : offset + limit], meta

    def _op_contacts_search(self, *, params: list[tuple[str, str]], **_: object) -> Reply:
        getters = {
            "id": lambda c, _f: c["id"],
            "phone": lambda c, _f: c["phone"],
            "created_at": lambda c, _f: c["created_at"],
            "group_id": lambda c, _f: c["groups"],
            "*": lambda c, f: c["fields"].get(int(f)) if f.isdigit() else None,
        }
        page, meta = self._search(params, list(self.contacts.values()), getters, {"id", "phone"})
        lists = self._lists_view(page, counts=False)
        return _json(200, {"data": [self._contact_json(c, lists) for c in page], "meta": meta})

    # --------------------------------------------------------------- fields

    def _op_fields_list(self, **_: object) -> Reply:
        return _json(200, {"data": list(self.fields.values())})

    def _field_body(self, body: bytes, *, partial: bool) -> dict[str, Any]:
        data = _load(body)
        if not isinstance(data, dict):
            raise _Error(422, "The given data was invalid.", {"name": ["The name is required."]})
        errors: dict[str, list[str]] = {}
        name = data.get("name")
        if name is not None or not partial:
            if not isinstance(name, str) or not 1 <= len(name) <= 30:
                errors["name"] = ["The name must be 1 to 30 characters."]
        if not partial and data.get("type") not in {"text", "date", "number"}:
            errors["type"] = ["The type must be text, date or number."]
        description = data.get("description")
        if description is not None and (
            not isinstance(description, str) or not 1 <= len(description) <= 255
        ):
            errors["description"] = ["The description must be 1 to 255 characters."]
        if "is_visible" in data and not isinstance(data["is_visible"], bool):
            errors["is_visible"] = ["The is_visible must be a boolean."]
        if errors:
            raise _Error(422, "The given data was invalid.", errors)
        return data

    def _op_field_create(self, *, body: bytes, **_: object) -> Reply:
        data = self._field_body(body, partial=False)
        record = self._add_field(
            data["name"],
            data["type"],
            data.get("description"),
            is_visible=data.get("is_visible", True),
        )
        return _json(201, {"data": record})

    def _op_field_update(self, *, match: dict[str, str], body: bytes, **_: object) -> Reply:
        record = self.fields.get(int(match["id"]))
        if record is None:
            raise _Error(422, "Contact field is not found")
        data = self._field_body(body, partial=True)
        for key in ("name", "description", "is_visible"):
            if key in data:
                record[key] = data[key]
        return _json(200, {"data": record})

    def _op_fields_delete(self, *, body: bytes, **_: object) -> Reply:
        data = _load(body)
        ids = data.get("ids") if isinstance(data, dict) else None
        if not isinstance(ids, list) or not 1 <= len(ids) <= 30:
            raise _Error(422, "The given data was invalid.", {"ids": ["1 to 30 ids."]})
        for field_id in ids:
            if self.fields.pop(field_id, None) is not None:
                for contact in self.contacts.values():
                    contact["fields"].pop(field_id, None)
        return Reply(204)

    # --------------------------------------------------------------- groups

    def _op_groups_list(self, *, params: list[tuple[str, str]], **_: object) -> Reply:
        limit, offset = self._page(params, 50)
        rows = list(self.groups.values())
        return _json(
            200,
            {
                "data": [self._group_json(g) for g in rows[offset : offset + limit]],
                "total": len(rows),
            },
        )

    def _group_or_422(self, raw: str) -> dict[str, Any]:
        group = self.groups.get(int(raw))
        if group is None:
            raise _Error(422, "Contact group is not found")
        return group

    def _group_body(self, body: bytes, *, exclude: int | None = None) -> dict[str, Any]:
        data = _load(body)
        name = data.get("name") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not isinstance(name, str) or not 3 <= len(name) <= 50:
            raise _Error(
                422,
                "The given data was invalid.",
                {"name": ["The name must be 3 to 50 characters."]},
            )
        if any(g["name"] == name and g["id"] != exclude for g in self.groups.values()):
            raise _Error(422, "Contact group is already exists")
        return data

    def _op_group_create(self, *, body: bytes, **_: object) -> Reply:
        data = self._group_body(body)
        group = self._add_group(
            data["name"], data.get("description"), default=bool(data.get("default", False))
        )
        return _json(201, {"data": self._group_json(group)})

    def _op_group_get(self, *, match: dict[str, str], **_: object) -> Reply:
        return _json(200, {"data": self._group_json(self._group_or_422(match["id"]))})

    def _op_group_update(self, *, match: dict[str, str], body: bytes, **_: object) -> Reply:
        group = self._group_or_422(match["id"])
        data = self._group_body(body, exclude=group["id"])
        group["name"] = data["name"]
        if "description" in data:
            group["description"] = data["description"]
        if "default" in data:
            group["default"] = bool(data["default"])
        return _json(200, {"data": self._group_json(group)})

    def _op_group_delete(self, *, match: dict[str, str], **_: object) -> Reply:
        group = self._group_or_422(match["id"])
        # Deleting a list keeps its contacts.
        for contact_id in group["members"]:
            self.contacts[contact_id]["groups"].remove(group["id"])
        del self.groups[group["id"]]
        return Reply(204)

    def _membership_body(self, body: bytes) -> tuple[list[int], list[int]]:
        data = _load(body)
        contacts = data.get("contacts") if isinstance(data, dict) else None
        groups = data.get("groups") if isinstance(data, dict) else None
        errors: dict[str, list[str]] = {}
        if not isinstance(contacts, list) or not 1 <= len(contacts) <= 200:
            errors["contacts"] = ["1 to 200 contact ids."]
        if not isinstance(groups, list) or not 1 <= len(groups) <= 100:
            errors["groups"] = ["1 to 100 list ids."]
        if errors or not isinstance(contacts, list) or not isinstance(groups, list):
            raise _Error(422, "The given data was invalid.", errors)
        for group_id in groups:
            if group_id not in self.groups:
                raise _Error(422, "Contact group is not found")
        for contact_id in contacts:
            if contact_id not in self.contacts:
                raise _Error(422, "Invalid contact id")
        return contacts, groups

    def _op_groups_attach(self, *, body: bytes, **_: object) -> Reply:
        contacts, groups = self._membership_body(body)
        for contact_id in contacts:
            for group_id in groups:
                if group_id not in self.contacts[contact_id]["groups"]:
                    self.contacts[contact_id]["groups"].append(group_id)
                self.groups[group_id]["members"].add(contact_id)
        return _json(200, {})

    def _op_groups_detach(self, *, body: bytes, **_: object) -> Reply:
        contacts, groups = self._membership_body(body)
        for contact_id in contacts:
            for group_id in groups:
                if group_id in self.contacts[contact_id]["groups"]:
                    self.contacts[contact_id]["groups"].remove(group_id)
                self.groups[group_id]["members"].discard(contact_id)
        return _json(200, {})

    def _op_groups_search(self, *, params: list[tuple[str, str]], **_: object) -> Reply:
        rows = [
            {**self._group_json(g), "phones": {self.contacts[c]["phone"] for c in g["members"]}}
            for g in self.groups.values()
        ]
        getters = {
            "id": lambda g, _f: g["id"],
            "name": lambda g, _f: g["name"],
            "description": lambda g, _f: g["description"],
            "items": lambda g, _f: g["items"],
            "created_at": lambda g, _f: g["created_at"],
            "phone": lambda g, _f: g["phones"],
        }
        page, meta = self._search(
            params, rows, getters, {"id", "items", "name", "description", "created_at"}
        )
        data = [
            {
                "id": g["id"],
                "name": g["name"],
                "description": g["description"],
                "is_default": g["default"],
                "items": g["items"],
                "created_at": g["created_at"],
            }
            for g in page
        ]
        return _json(200, {"data": data, "meta": meta})

    # ------------------------------------------------------------- stoplist

    def _op_stoplist_list(self, *, params: list[tuple[str, str]], **_: object) -> Reply:
        limit, offset = self._page(params, 20)
        values = dict(params)
        kind = values.get("type") or values.get("types")
        if kind is not None and kind not in STOPLIST_TYPES:
            raise _Error(422, "The given data was invalid.", {"type": ["Unknown stop-list type."]})
        rows = [e for e in self.stoplist.values() if kind is None or e[kind]]
        return _json(
            200,
            {
                "data": [self._stop_json(e) for e in rows[offset : offset + limit]],
                "total": len(rows),
            },
        )

    def _op_stoplist_attach(self, *, body: bytes, **_: object) -> Reply:
        data = _load(body)
        phones = data.get("phones") if isinstance(data, dict) else None
        types = data.get("types") if isinstance(data, dict) else None
        if (
            not isinstance(phones, list)
            or not 1 <= len(phones) <= 1000
            or not all(
                isinstance(p, int) and not isinstance(p, bool) and MIN_PHONE <= p <= MAX_PHONE
                for p in phones
            )
        ):
            raise _Error(422, "The given data was invalid.", {"phones": ["1 to 1000 phones."]})
        if not isinstance(types, list) or not types or any(t not in STOPLIST_TYPES for t in types):
            raise _Error(422, "The given data was invalid.", {"types": ["Unknown stop-list type."]})
        entries = []
        for phone in phones:
            entry_id = self._stop_phones.get(phone)
            if entry_id is None:
                entry_id = self._new_id("stop")
                self.stoplist[entry_id] = {
                    "id": entry_id,
                    "phone": phone,
                    "created_at": self._stamp(),
                    **dict.fromkeys(STOPLIST_TYPES, False),
                }
                self._stop_phones[phone] = entry_id
            entry = self.stoplist[entry_id]
            for kind in types:
                entry[kind] = True
            entries.append(self._stop_json(entry))
        return _json(200, {"data": entries})

    def _op_stoplist_detach(self, *, body: bytes, **_: object) -> Reply:
        data = _load(body)
        ids = data.get("ids") if isinstance(data, dict) else None
        types = data.get("types") if isinstance(data, dict) else None
        if not isinstance(ids, list) or not 1 <= len(ids) <= 200:
            raise _Error(422, "The given data was invalid.", {"ids": ["1 to 200 entry ids."]})
        if not isinstance(types, list) or not types or any(t not in STOPLIST_TYPES for t in types):
            raise _Error(422, "The given data was invalid.", {"types": ["Unknown stop-list type."]})
        for entry_id in ids:
            entry = self.stoplist.get(entry_id)
            if entry is None:
                continue
            for kind in types:
                entry[kind] = False
            if not any(entry[k] for k in STOPLIST_TYPES):
                del self.stoplist[entry_id]
                del self._stop_phones[entry["phone"]]
        return _json(200, {})

    def _op_stoplist_search(self, *, params: list[tuple[str, str]], **_: object) -> Reply:
        values = dict(params)
        rows = list(self.stoplist.values())
        group = values.get("contact_group_id")
        if group is not None and group.isdigit():
            members = self.groups.get(int(group), {}).get("members", set())
            phones = {self.contacts[c]["phone"] for c in members}
            rows = [e for e in rows if e["phone"] in phones]
        getters = {
            "id": lambda e, _f: e["id"],
            "phone": lambda e, _f: e["phone"],
            "created_at": lambda e, _f: e["created_at"],
            "type": lambda e, _f: {k for k in STOPLIST_TYPES if e[k]},
        }
        page, meta = self._search(params, rows, getters, {"id", "phone"})
        return _json(200, {"data": [self._stop_json(e) for e in page], "meta": meta})


def _load(body: bytes) -> Any:  # noqa: ANN401 - JSON of any shape
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        raise _Error(400, "The request body is not valid JSON.") from None


def _int_param(raw: str | None, default: int) -> int | None:
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        return None


_OPERATORS = frozenset({"like", "=", ">=", ">", "<", "<="})


def _compare(actual: object, operator: str, needle: str) -> bool:
    """Apply a search operator the way the API describes (loosely typed)."""
    if isinstance(actual, (set, list)):
        return any(_compare(item, operator, needle) for item in actual)
    if actual is None:
        return False
    if operator == "like":
        return needle.strip("%").lower() in str(actual).lower()
    left: Any = actual
    right: Any = needle
    if isinstance(actual, int):
        try:
            right = int(needle)
        except ValueError:
            left = str(actual)
    else:
        left = str(actual)
    comparisons: dict[str, bool] = {
        "=": left == right,
        ">=": left >= right,
        ">": left > right,
        "<": left < right,
        "<=": left <= right,
    }
    return comparisons[operator]
