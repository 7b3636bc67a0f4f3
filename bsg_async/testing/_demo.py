"""The README's main job: a tour of the SDK against the emulator on a real socket."""

from __future__ import annotations

import importlib.util
import time

import anyio

import bsg_async
from bsg_async.testing._emulator import DEFAULT_KEY, FakeBSG, Faults

_FAULT_KINDS = ("500", "502", "503", "drop")


class _Report:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    def step(self, title: str, detail: str) -> None:
        elapsed = time.perf_counter() - self.started
        print(f"[{elapsed:6.2f}s] {title:<34} {detail}", flush=True)


async def _faulty_walk(
    client: bsg_async.Client,
    fake: FakeBSG,
    fault_rate: float,
    report: _Report,
    problems: list[str],
) -> None:
    """Walk every contact while the emulator injects faults; each must come once."""
    total = len(fake.contacts)
    fake.faults = Faults.mixed(fault_rate, seed=7, retry_after=0.05)
    before = fake.stats.copy()
    # One request in five fails here: with the default 3 retries a page would
    # fail all four tries about once in 600 (a 22-page walk: 1 run in 30).
    # Ten retries make that about once in 50 million.
    patient = client.with_options(max_retries=10)
    walk = [c.id async for c in patient.contacts.list(page_size=250, prefetch=4)]
    faults = {kind: fake.stats[f"fault:{kind}"] - before[f"fault:{kind}"] for kind in _FAULT_KINDS}
    fake.faults = Faults()
    if len(walk) != total or len(set(walk)) != total:
        problems.append(f"the faulty walk returned {len(walk)} ids for {total} contacts")
    injected = ", ".join(f"{count} x {kind}" for kind, count in faults.items())
    report.step(f"walk under {fault_rate:.0%} faults", f"injected {injected}")
    report.step("", f"all retried: {len(set(walk))} of {total} contacts, each exactly once")


async def _tour(fake: FakeBSG, base_url: str, imports: int, fault_rate: float) -> list[str]:
    report = _Report()
    problems: list[str] = []
    async with bsg_async.Client(DEFAULT_KEY, base_url=base_url, retry_backoff=0.05) as client:
        fields = await client.fields.list()
        name_field = fields[0]
        report.step("custom fields", ", ".join(f"{f.id}:{f.name} ({f.type})" for f in fields))

        demo_list = await client.lists.create(name="Demo import", description="made by the demo")
        report.step("created list", f"{demo_list.id} {demo_list.name!r}")

        people = [
            bsg_async.NewContact(
                phone=61_400_000_000 + n,
                groups=(demo_list.id,),
                fields={name_field.id: f"Demo person {n}"},
            )
            for n in range(imports)
        ]
        created = [c async for c in client.contacts.create_many(people, concurrency=16)]
        report.step("imported contacts", f"{len(created)} created with 16 in flight")

        in_list = await client.contacts.list(groups=[demo_list.id], page_size=100).collect()
        if sorted(c.id for c in in_list) != sorted(c.id for c in created):
            problems.append("the list does not hold exactly the imported contacts")
        report.step("paged through the list", f"{len(in_list)} contacts in pages of 100")

        blocked = await client.stoplist.add([c.phone for c in created[:25]], types=["sms"])
        sms = await client.stoplist.list(type="sms").collect()
        report.step("stop list", f"{len(blocked)} phones added; {len(sms)} entries on sms")

        await _faulty_walk(client, fake, fault_rate, report, problems)

        sample = [c.id for c in created[:100]]
        fetched = [c.id async for c in client.contacts.get_many(sample, concurrency=8)]
        if fetched != sample:
            problems.append("get_many did not return the ids in input order")
        report.step("get_many", f"{len(fetched)} contacts fetched, in input order")

        contact = await client.contacts.update(created[0].id, phone=61_499_999_999)
        report.step("updated a contact", f"{contact.id} now has phone {contact.phone}")
        try:
            await client.contacts.get(1)
        except bsg_async.NotFoundError as exc:
            report.step("typed errors", f"NotFoundError: {exc.message!r} (HTTP {exc.status_code})")
    report.step(
        "emulator saw",
        f"{fake.stats['logins']} login(s), "
        f"{sum(v for k, v in fake.stats.items() if k.startswith('route:'))} requests",
    )
    return problems


def run_demo(*, existing: int, imports: int, fault_rate: float) -> int:
    """Start the emulator on loopback, run the tour, print a summary; 0 on success."""
    fake = FakeBSG(seed_contacts=existing, seed=1)
    with fake.serve() as server:
        print(f"BSG emulator on {server.base_url} with {existing} contacts\n", flush=True)
        uvloop = importlib.util.find_spec("uvloop") is not None
        problems = anyio.run(
            _tour,
            fake,
            server.base_url,
            imports,
            fault_rate,
            backend_options={"use_uvloop": uvloop},
        )
    if problems:
        print("\nDEMO FAILED:\n  " + "\n  ".join(problems))
        return 1
    print("\nDemo finished: every step checked out.")
    return 0
