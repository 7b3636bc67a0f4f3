"""The emulator's core: one BSG account, its tokens, faults and dispatch.

This module knows HTTP only as data (method, path, query pairs, headers,
body bytes in; status, headers, body bytes out), so the in-process transport
and the ASGI app share it. It imports nothing of the SDK: it is written from
the API's documentation, so it cannot come to agree with an SDK bug.

Where to find what: the typed records in ``_records``; the account that
holds them and is the only way they change in ``_state``; input parsing,
errors and search in ``_protocol``; the route table in ``_routes``; one
handler module per resource in ``_handlers`` (each takes the account and
one call); injected failures in ``_faults``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
from collections import Counter, deque
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from bsg_async.testing import _routes
from bsg_async.testing._faults import FaultDice, Faults
from bsg_async.testing._protocol import (
    INVALID,
    MAX_PHONE,
    MIN_PHONE,
    ApiError,
    Call,
    Deferred,
    Reply,
    json_reply,
)
from bsg_async.testing._records import (
    STOPLIST_TYPES,
    ContactRecord,
    FieldRecord,
    ListRecord,
    StopEntry,
)
from bsg_async.testing._state import Account

if TYPE_CHECKING:
    from bsg_async import Client
    from bsg_async.testing._server import EmulatorServer
    from bsg_async.testing._transport import EmulatorTransport

__all__ = [
    "DEFAULT_KEY",
    "IN_PROCESS_URL",
    "MAX_PHONE",
    "MIN_PHONE",
    "STOPLIST_TYPES",
    "FakeBSG",
    "Faults",
    "Reply",
]

DEFAULT_KEY = "test_emulator_key"
# Base URL of in-process clients: a .localhost name, so nothing can resolve
# it to a real host.
IN_PROCESS_URL = "http://bsg-emulator.localhost/api"
_MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_RECENT_POSTS_KEPT = 10_000

logger = logging.getLogger("bsg_async.testing")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class FakeBSG:
    """An in-memory, stateful emulator of the BSG Contacts family.

    No input, however malformed, makes it answer 5xx: bad input gets the
    API's 4xx with ``{"message", "errors"}``; only configured faults give 5xx.

    Args:
        api_keys: Keys that may log in (default: ``DEFAULT_KEY``).
        token_ttl: Seconds a JWT lives.
        seed_contacts: Contacts to generate at start (deterministic).
        seed: Seed of the generated data.
        duplicate_window: Seconds within which an identical POST (same path,
            query, body and token) answers 429 "Too many duplicate request
            detected" (0 disables).
        faults: Failures to inject (see ``Faults``).
        clock: Wall-clock seconds since the epoch; ``advance()`` adds to it.

    Attributes:
        account: The emulated account: its records (``contacts``, ``groups``,
            ``fields``, ``stoplist``) and the methods that change them
            (``add_contact``, ``stop``, ``join`` ...), for setting up a test.
        stats: Counters of what the emulator received, e.g.
            ``stats["route:contact_create"]``, ``stats["logins"]``,
            ``stats["fault:502"]``, ``stats["status:201"]``.
        request_times: Emulator-clock time of every request received.
        traceparents: The W3C ``traceparent`` header of the last 1,000
            requests that carried one (tracing tests).
        unexpected: Exceptions a handler raised on some input (each answered
            422); an empty list means every input was handled on purpose.
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
        self.account: Account = Account(self.now)
        self.api_keys: set[str] = set(api_keys)
        self.token_ttl = token_ttl
        self.duplicate_window = duplicate_window
        self._clock = clock
        self._skew = 0.0
        self._lock = threading.RLock()
        self.faults = faults or Faults()  # also seeds the fault dice
        self._secret = hashlib.sha256(f"bsg-emulator-{seed}".encode()).digest()
        self._revoked: set[str] = set()
        self._throttle: float | None = None
        self._canned: list[Reply] = []
        self._hold: tuple[str, str] | None = None
        self._held: Deferred | None = None
        self._releases_on = ""
        self._recent_posts: dict[tuple[str, str, str, bytes, str], float] = {}
        self.stats: Counter[str] = Counter()
        self.request_times: list[float] = []
        self.traceparents: deque[str] = deque(maxlen=1000)
        self.unexpected: list[BaseException] = []
        if seed_contacts:
            self.seed_contacts(seed_contacts, seed=seed)

    # ----------------------------------------------------------------- setup

    @property
    def faults(self) -> Faults:
        """The failures being injected; assigning new ones reseeds the dice."""
        return self._dice.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        with self._lock:
            self._dice = FaultDice(faults)

    def now(self) -> float:
        """The emulator's wall clock (seconds since the epoch)."""
        return float(self._clock()) + self._skew

    def advance(self, seconds: float) -> None:
        """Move the emulator's clock forward (expires tokens without waiting)."""
        with self._lock:
            self._skew += seconds

    def seed_contacts(self, count: int, *, seed: int = 0) -> list[int]:
        """Generate ``count`` contacts (deterministic from ``seed``); return their ids."""
        with self._lock:
            return self.account.seed_contacts(count, seed=seed)

    @property
    def contacts(self) -> dict[int, ContactRecord]:
        """The account's contacts by id (``record.phone``, or ``record["phone"]``)."""
        return self.account.contacts

    @property
    def groups(self) -> dict[int, ListRecord]:
        """The account's contact lists by id."""
        return self.account.groups

    @property
    def fields(self) -> dict[int, FieldRecord]:
        """The account's custom fields by id."""
        return self.account.fields

    @property
    def stoplist(self) -> dict[int, StopEntry]:
        """The account's stop-list entries by id."""
        return self.account.stoplist

    def issue_token(self, *, ttl: float | None = None) -> str:
        """A valid JWT for this emulator (as a login would answer)."""
        now = self.now()
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims = {
            "iat": int(now),
            "exp": now + (self.token_ttl if ttl is None else ttl),
            "jti": self._dice.random.getrandbits(64),
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

    def answer_next(
        self, status: int, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> None:
        """Answer the next API request (logins aside) with exactly this, once.

        For answers the real API should never give but a proxy or a broken
        release can: an empty 200, HTML, truncated JSON, a huge body. Called
        several times, the answers are given in order. Nothing is changed by
        the requests they answer.
        """
        with self._lock:
            self._canned.append(Reply(status, body, dict(headers or {})))

    def hold_next(self, route: str, *, until: str) -> None:
        """Receive the next request to ``route`` but handle it only after one to ``until``.

        Makes "applied late" exact, with no timing: the held request (say a
        create, ``route="contact_create"``) changes nothing until a request
        to ``until`` (say the client's lookup, ``"contacts_search"``) has
        been answered; it is then handled at once, before anything else, and
        its answer is sent to whoever still waits for it. Route names are
        those of ``stats["route:..."]``.
        """
        with self._lock:
            self._hold = (route, until)

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
            if self._hold is None and self._held is None:
                return self._handle_now(method, path, query, headers, body)
            # A request is (to be) held: find the route here as well.
            found = _routes.find(method, path)[0]
            label = None if found is None else found.name
            if self._hold is not None and label == self._hold[0]:
                self._held = Deferred((method, path, query, headers, body))
                self._releases_on = self._hold[1]
                self._hold = None
                self.stats["held"] += 1
                return Reply(0, action="hold", deferred=self._held)
            reply = self._handle_now(method, path, query, headers, body)
            held = self._held
            if held is not None and label == self._releases_on:
                self._held = None
                held.release(self._handle_now(*held.request))
            return reply

    def _handle_now(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Reply:
        with self._lock:
            self.request_times.append(self.now())
            if "traceparent" in headers:
                self.traceparents.append(headers["traceparent"])
            route, match, allowed = _routes.find(method, path)
            name = (
                route.name
                if route is not None
                else "method_not_allowed"
                if allowed
                else "not_found"
            )
            self.stats[f"route:{name}"] += 1
            if self._throttle is not None:
                reply = json_reply(
                    429, {"message": "Too Many Attempts."}, {"retry-after": f"{self._throttle:g}"}
                )
                self._throttle = None
                self.stats["throttled"] += 1
            elif self._canned and route is not None and route.name not in _routes.AUTH_ROUTES:
                reply = self._canned.pop(0)
                self.stats["canned"] += 1
            elif route is None:
                reply = self._no_route(allowed)
            else:
                call = Call(method, path, match, _query_pairs(query), body)
                reply = self._faulty(route, call, headers)
            reply.delay += self.faults.latency
            self.stats[f"status:{reply.status}"] += 1
            return reply

    @staticmethod
    def _no_route(allowed: list[str]) -> Reply:
        if not allowed:
            return json_reply(404, {"message": "Not Found"})
        return json_reply(405, {"message": "Method Not Allowed"}, {"allow": ", ".join(allowed)})

    def _faulty(self, route: _routes.Route, call: Call, headers: dict[str, str]) -> Reply:
        kind = self._dice.roll(auth=route.name in _routes.AUTH_ROUTES)
        if kind is None:
            return self._answer(route, call, headers)
        strike_after = (
            call.method in _MUTATING and kind != "slow" and self._dice.strikes_after_apply()
        )
        if strike_after:
            self.stats["fault:after_apply"] += 1
            self._answer(route, call, headers)
        self.stats[f"fault:{kind}"] += 1
        fault = self._dice.reply(kind)
        if kind == "slow":
            # The answer comes, but too late for a client with a short timeout.
            real = self._answer(route, call, headers)
            real.delay = fault.delay
            return real
        return fault

    def _answer(self, route: _routes.Route, call: Call, headers: dict[str, str]) -> Reply:
        try:
            if route.name != "login":
                call.token = self._authenticate(headers)
                if call.method == "POST":
                    duplicate = self._duplicate(call)
                    if duplicate is not None:
                        return duplicate
            if route.auth is not None:
                return route.auth(self, call)
            assert route.handler is not None  # noqa: S101 - a route has one of the two
            reply = route.handler(self.account, call)
        except ApiError as error:
            payload: dict[str, object] = {"message": error.message}
            if error.status != 401:
                payload["errors"] = error.errors
            return json_reply(error.status, payload)
        except Exception as exc:  # noqa: BLE001 - any input must get the API's JSON error
            # A handler that did not foresee some input: answer as the API
            # answers bad input, and keep the exception for tests to see.
            self.unexpected.append(exc)
            self.stats["unexpected_errors"] += 1
            logger.warning("emulator: %s %s raised %r", call.method, call.path, exc)
            return json_reply(
                422, {"message": INVALID, "errors": {"request": ["The request is invalid."]}}
            )
        if route.name == "contact_create":
            self.stats["creates"] += 1
        return reply

    def _authenticate(self, headers: dict[str, str]) -> str:
        value = headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "Unauthenticated.")
        parts = token.split(".")
        if len(parts) != 3 or token in self._revoked:
            raise ApiError(401, "Unauthenticated.")
        expected = _b64(
            hmac.new(self._secret, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        )
        if not hmac.compare_digest(expected, parts[2]):
            raise ApiError(401, "Unauthenticated.")
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        if self.now() >= claims["exp"]:
            self.stats["expired_tokens"] += 1
            raise ApiError(401, "Unauthenticated.")
        return token

    def _duplicate(self, call: Call) -> Reply | None:
        """429 when an identical POST (path, query, body, token) came within the window."""
        if self.duplicate_window <= 0:
            return None
        now = self.now()
        query = "&".join(f"{k}={v}" for k, v in call.params)
        key = (call.method, call.path, query, call.body, call.token)
        if len(self._recent_posts) > _RECENT_POSTS_KEPT:
            self._recent_posts = {
                k: t for k, t in self._recent_posts.items() if now - t < self.duplicate_window
            }
        last = self._recent_posts.get(key)
        self._recent_posts[key] = now
        if last is not None and now - last < self.duplicate_window:
            self.stats["duplicates_detected"] += 1
            return json_reply(429, {"message": "Too many duplicate request detected"})
        return None


def _query_pairs(query: str) -> list[tuple[str, str]]:
    try:
        return parse_qsl(query, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        # Undecodable bytes: keep them replaced, the handler rejects the value.
        return parse_qsl(query, keep_blank_values=True, errors="replace")
