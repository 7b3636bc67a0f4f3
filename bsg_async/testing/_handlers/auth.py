"""Authentication: login with an API key, refresh a JWT."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bsg_async.testing._protocol import ApiError, Call, Reply, json_reply, load_json

if TYPE_CHECKING:
    from bsg_async.testing._emulator import FakeBSG


def login(fake: FakeBSG, call: Call) -> Reply:
    data = load_json(call.body)
    key = data.get("api_key") if isinstance(data, dict) else None
    if not isinstance(key, str) or key not in fake.api_keys:
        fake.stats["rejected_logins"] += 1
        raise ApiError(401, "Invalid api key")
    fake.stats["logins"] += 1
    return json_reply(200, {"bearer": fake.issue_token()})


def refresh(fake: FakeBSG, call: Call) -> Reply:
    fake.stats["refreshes"] += 1
    fake.revoke(call.token)
    return json_reply(200, {"bearer": fake.issue_token()})
