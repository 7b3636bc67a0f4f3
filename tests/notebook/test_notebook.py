"""examples/contacts.ipynb, executed headlessly by nbclient in a real Jupyter kernel.

The kernel is a separate process: it reaches the emulator over loopback like a
user's notebook reaches BSG. Run once against an emulator this test serves
(exact contacts, one login, no connection left open) and once as a newcomer
runs it, with no ``BSG_BASE_URL``: then the notebook serves its own.
"""

from __future__ import annotations

import ast
import base64
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from traitlets.config import Config

from bsg_async.testing import DEFAULT_KEY, FakeBSG

NOTEBOOK = Path(__file__).parents[2] / "examples" / "contacts.ipynb"
COLUMNS = ["id", "phone", "created_at", "lists", "hlr_status", "hlr_last_check", "Name"]
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
# nbformat has no annotations: call it through a typed name.
read_notebook: Callable[..., Any] = nbformat.read


def execute(workdir: Path) -> Any:
    """Run every cell in a fresh python3 kernel; a failing cell raises CellExecutionError."""
    notebook = read_notebook(NOTEBOOK, as_version=4)
    # IPC sockets in the test's directory: the kernel listens on no TCP port.
    kernel = {"transport": "ipc", "ip": str(workdir / "kernel")}
    NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=120,
        store_widget_state=True,
        resources={"metadata": {"path": str(workdir)}},
        config=Config({"KernelManager": kernel}),
    ).execute()
    return notebook


def tagged(notebook: Any, tag: str) -> Any:
    (cell,) = [c for c in notebook.cells if tag in c.metadata.get("tags", [])]
    return cell


def check_outputs(notebook: Any, contacts: int) -> None:
    """What a reader of the executed notebook sees: the frame, a full bar, a plot."""
    summary = tagged(notebook, "summary").outputs[0]["data"]["text/plain"]
    assert {"contacts": contacts, "unique ids": True, "columns": COLUMNS} == (
        ast.literal_eval(summary)
    )
    frame = tagged(notebook, "frame")
    kinds = [sorted(output.get("data", {})) for output in frame.outputs]
    assert [
        ["application/vnd.jupyter.widget-view+json", "text/plain"],  # tqdm's widget
        ["text/html", "text/plain"],  # df.head()
    ] == kinds
    # The widget ended full, with the total learnt from the first page.
    models = notebook.metadata["widgets"][WIDGET_STATE]["state"].values()
    (bar,) = [m["state"] for m in models if m["model_name"] == "FloatProgressModel"]
    assert (float(contacts), float(contacts), "success") == (
        bar["max"],
        bar["value"],
        bar["bar_style"],
    )
    texts = [m["state"]["value"] for m in models if m["model_name"] == "HTMLModel"]
    assert "contacts:\u2007100%" in texts  # the label left of the bar
    (figure,) = tagged(notebook, "plot").outputs
    assert b"\x89PNG\r\n" == base64.b64decode(figure["data"]["image/png"])[:6]
    dtypes = tagged(notebook, "dtypes").outputs[0]["data"]["text/plain"].split()
    assert ["Int64", "Int64", "datetime64[ns]", "object", "string", "datetime64[ns]"] == (
        dtypes[1:12:2]
    )


def test_against_a_served_emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeBSG(seed_contacts=1_234, seed=3).serve() as server:
        monkeypatch.setenv("BSG_BASE_URL", server.base_url)
        monkeypatch.setenv("BSG_API_KEY", DEFAULT_KEY)
        notebook = execute(tmp_path)
        check_outputs(notebook, contacts=1_234)
        assert (1, []) == (server.fake.stats["logins"], server.fake.unexpected)
        # The last cell closed the client; the server notices on its own thread.
        deadline = time.monotonic() + 10
        while server.open_connections and time.monotonic() < deadline:
            time.sleep(0.05)
        assert 0 == server.open_connections


def test_as_a_newcomer_runs_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No BSG_BASE_URL: the first cell serves the emulator (5,000 contacts) in the kernel."""
    monkeypatch.delenv("BSG_BASE_URL", raising=False)
    monkeypatch.delenv("BSG_API_KEY", raising=False)
    check_outputs(execute(tmp_path), contacts=5_000)
