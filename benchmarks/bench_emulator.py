"""How fast the emulator answers, and that it does not slow down as the book grows.

Gets contacts by id (each embeds its list with the list's counts) from books
of 10,000 and 100,000 contacts, all in one list: in process through
``FakeBSG.handle`` and over loopback with raw httpx.

    python -m benchmarks.bench_emulator [--quick]
"""

from __future__ import annotations

import random
import sys
import time

import anyio
import httpx

from bsg_async.testing import FakeBSG


def in_process(fake: FakeBSG, ids: list[int], token: str) -> float:
    headers = {"authorization": f"Bearer {token}"}
    started = time.perf_counter()
    for contact_id in ids:
        reply = fake.handle("GET", f"/api/contacts/{contact_id}", "", headers, b"")
        assert reply.status == 200
    return len(ids) / (time.perf_counter() - started)


async def served(fake: FakeBSG, ids: list[int], token: str) -> float:
    with fake.serve() as server:
        async with httpx.AsyncClient(
            base_url=server.base_url + "/",
            headers={"Authorization": f"Bearer {token}"},
            trust_env=False,
        ) as http:
            started = time.perf_counter()
            for contact_id in ids:
                answer = await http.get(f"contacts/{contact_id}")
                assert answer.status_code == 200
            return len(ids) / (time.perf_counter() - started)


def main(quick: bool) -> None:
    calls = 300 if quick else 3000
    for size in (10_000, 100_000):
        fake = FakeBSG(seed_contacts=size)
        # A tenth of the book on the stop list, so the lists' counts are not zero.
        for contact in list(fake.contacts.values())[::10]:
            fake.account.stop(contact.phone, ["sms"])
        token = fake.issue_token(ttl=3600)
        ids = random.Random(1).choices(sorted(fake.contacts), k=calls)
        local = in_process(fake, ids, token)
        remote = anyio.run(served, fake, ids, token)
        print(
            f"{size:,} contacts: in process {local:,.0f} req/s, "
            f"over loopback (raw httpx, one at a time) {remote:,.0f} req/s"
        )


if __name__ == "__main__":
    main("--quick" in sys.argv)
