"""A live catalog writer that fails or dies never stalls the RunEngine, one failing run does not
stop it writing the others, and ``ingest_journal`` never writes a run while the writer does.
No IOC: ophyd's simulated detector, a RunEngine, the journal and the writer."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import pytest
from bluesky import RunEngine
from bluesky.plans import count
from ophyd.sim import det

from gi_instrument.catalog import (catalog_paths, close_journal, document_journal, ingest_journal, lock_journal,
                                   open_catalog, read_journal, writer_error_path)
from gi_instrument.catalog_follower import CatalogWriter, JournalFollower
from gi_instrument.session import await_catalog

BAD_STREAM = "bad/stream"
"""A stream name the catalog refuses (a ``/`` in a node key): a real catalog error on its run."""


@pytest.fixture(scope="module")
def catalog_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("faults")


@pytest.fixture(scope="module")
def client(catalog_dir):
    return open_catalog(catalog_dir)


@pytest.fixture
def journal_RE(tmp_path):
    """A RunEngine that journals to ``tmp_path/documents`` only; yields (RE, paths)."""
    paths = catalog_paths(tmp_path)
    RE = RunEngine({}, call_returns_result=False)
    RE.subscribe(document_journal(paths))
    return RE, paths


def _bad_run():
    """A run with one event in a stream the catalog refuses."""
    return bpp.run_wrapper(bps.trigger_and_read([det], name=BAD_STREAM))


def _complete(client, uid: str) -> bool:
    return uid in client and client[uid].metadata.get("stop") is not None


def test_follower_leaves_a_failing_run_and_writes_the_next(journal_RE, client, capfd):
    RE, paths = journal_RE
    (bad,), (good,) = RE(_bad_run()), RE(count([det], num=3))
    (garbled,) = RE(count([det], num=2))
    garbled_journal = paths.documents / f"{garbled}.jsonl"
    lines = garbled_journal.read_text().splitlines(keepends=True)
    garbled_journal.write_text("".join([*lines[:2], "{not json\n", *lines[2:]]))
    follower = JournalFollower(client, paths)
    follower.poll()
    assert _complete(client, good)
    assert client[good]["primary"]["det"].read().shape == (3,)
    err = capfd.readouterr().err
    for uid, error in ((bad, "ClientError"), (garbled, "JSONDecodeError")):
        assert not _complete(client, uid)
        assert f"run {uid} left for ingest_journal: {error}" in err
        assert writer_error_path(paths.documents / f"{uid}.jsonl").read_text().startswith(error)
    (later,) = RE(count([det], num=1))
    follower.poll()
    assert _complete(client, later)           # the follower goes on with later runs


def test_a_catalog_error_on_the_first_look_is_left_to_ingest_journal(journal_RE, client, capfd):
    RE, paths = journal_RE
    (first,), (second,) = RE(count([det], num=1)), RE(count([det], num=1))

    class DownForFirst:
        """``client``, but asking whether it holds ``first`` fails."""

        def __contains__(self, uid):
            if uid == first:
                raise ConnectionError("catalog is down")
            return uid in client

        def __getattr__(self, name):
            return getattr(client, name)

    JournalFollower(DownForFirst(), paths).poll()
    assert "left for ingest_journal: ConnectionError: catalog is down" in capfd.readouterr().err
    assert first not in client and _complete(client, second)
    journal = paths.documents / f"{first}.jsonl"
    assert ingest_journal(client, journal) == first and _complete(client, first)
    assert not writer_error_path(journal).exists()   # ingested: nothing left to repair


def test_a_line_cut_short_waits_and_close_journal_cuts_it_off(journal_RE, client):
    RE, paths = journal_RE
    (uid,) = RE(count([det], num=2))
    journal = paths.documents / f"{uid}.jsonl"
    text = journal.read_text()
    stop_line = text.splitlines(keepends=True)[-1]
    journal.write_text(text[:-len(stop_line)] + stop_line[:20])     # killed while writing the stop
    follower = JournalFollower(client, paths)
    follower.poll()
    assert uid in client and not _complete(client, uid)
    journal.write_text(text)                                         # the line is complete
    follower.poll()
    assert client[uid].metadata["stop"]["exit_status"] == "success"
    # close_journal gives a cut-off journal a stop line of its own, which read_journal reads
    body = text[:-len(stop_line)]
    journal.write_text(body + body.splitlines(keepends=True)[-1][:15])
    assert close_journal(journal)[-1][1]["reason"] == "crashed"
    items = read_journal(journal)
    assert [name for name, _ in items].count("event_page") == 2 and items[-1][1]["reason"] == "crashed"


def test_ingest_journal_waits_for_the_writer_of_the_run(journal_RE, client):
    RE, paths = journal_RE
    (uid,) = RE(count([det], num=2))
    journal = paths.documents / f"{uid}.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    journal.write_text("".join(lines[:-1]))                      # the run's stop is not there yet
    follower = JournalFollower(client, paths)
    follower.poll()                                              # the follower writes it: holds the lock
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="a live catalog writer .* still writes this run after 0.5 s"):
        ingest_journal(client, journal, lock_timeout_s=0.5)
    assert time.monotonic() - started >= 0.5
    assert json.loads(journal.read_text().splitlines()[-1])["name"] != "stop"   # ingest_journal changed nothing
    with open(journal, "a") as f:
        f.write(lines[-1])
    follower.poll()                                              # written and released
    assert client[uid].metadata["stop"]["exit_status"] == "success"
    with pytest.raises(ValueError, match="already in the catalog"):
        ingest_journal(client, journal, lock_timeout_s=0.5)


def test_the_follower_leaves_a_run_that_ingest_journal_writes(journal_RE, client):
    RE, paths = journal_RE
    (uid,) = RE(count([det], num=1))
    journal = paths.documents / f"{uid}.jsonl"
    held = lock_journal(journal, 0)                              # as ingest_journal holds it
    result: list[str] = []
    ingesting = threading.Thread(target=lambda: result.append(ingest_journal(client, journal, lock_timeout_s=30)))
    ingesting.start()
    JournalFollower(client, paths).poll()                        # the lock is taken: left alone
    assert uid not in client and ingesting.is_alive()            # ingest_journal waits for the lock
    held.close()
    ingesting.join(timeout=30)
    assert result == [uid] and _complete(client, uid)


@pytest.mark.parametrize("fault", ["killed", "catalog error"])
def test_a_run_whose_writer_fails_completes_promptly(fault, catalog_dir, client, caplog):
    paths = catalog_paths(catalog_dir)
    writer = CatalogWriter(paths)
    RE = RunEngine({}, call_returns_result=False)
    RE.subscribe(document_journal(paths))
    names: list[str] = []
    RE.subscribe(lambda name, doc: names.append("event_page" if name == "event" else name))
    RE.subscribe(await_catalog(client, writer=writer))
    faulted: list[float] = []

    def run():
        uid = yield from bps.open_run()
        yield from bps.trigger_and_read([det])
        deadline = time.monotonic() + 120                       # the writer opens the catalog: seconds
        while uid not in client:
            assert time.monotonic() < deadline, "the live catalog writer never wrote the run's start"
            time.sleep(0.1)
        if fault == "killed":
            writer.process.kill()
            writer.process.wait()
        faulted.append(time.monotonic())
        yield from bps.trigger_and_read([det], name="primary" if fault == "killed" else BAD_STREAM)
        yield from bps.close_run()

    try:
        pid = writer.pid
        with caplog.at_level(logging.WARNING, logger="gi_instrument.session"):
            (uid,) = RE(run())
        assert time.monotonic() - faulted[0] < 15                # not await_catalog's 120 s
        journal = writer.journal(uid)
        assert [name for name, _ in read_journal(journal)] == names   # the journal has every document
        problem = "has ended" if fault == "killed" else "left it after an error (ClientError"
        assert f"run {uid} not complete in the catalog: the live catalog writer {problem}" in caplog.text
        assert f"ingest_journal(client, '{journal}')" in caplog.text
        if fault == "killed":
            assert "started again" in caplog.text and writer.alive() and writer.pid != pid
            assert ingest_journal(client, journal) == uid and _complete(client, uid)
        names.clear()
        (later,) = RE(count([det], num=2))                      # the (restarted) writer writes the next run
        assert _complete(client, later)
    finally:
        writer.process.kill()
        writer.process.wait()
