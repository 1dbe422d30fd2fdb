"""Ingestion into Chroma: incremental, model changes, the server path, crashes and damage."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bot.domain.tutor import Tutor, open_index
from tests.conftest import ROOT, make_settings

SLIDE = """---
number: {n}
title: {title}
subtitle: A test slide
---

## Overview
{overview}

## Key Concepts
### First idea
The first idea of {title} explained in a sentence.
### Second idea
The second idea of {title} explained in another sentence.

## FAQ
### What is {title}?
{title} is the subject of slide {n}.
### Why learn {title}?
Because it appears in every later slide.
"""

TOPICS = {
    1: ("Photosynthesis", "Plants turn sunlight, water and carbon dioxide into sugar and oxygen."),
    2: ("Volcanoes", "Molten rock rises through the crust and erupts as lava and ash."),
    3: ("Tides", "The moon's gravity pulls the oceans, raising and lowering the sea twice a day."),
}


def write_deck(folder: Path, topics=TOPICS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for n, (title, overview) in topics.items():
        (folder / f"{n:02d}.md").write_text(SLIDE.format(n=n, title=title, overview=overview), encoding="utf-8")
    return folder


def build(settings, embedder) -> Tutor:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Tutor(settings, embedder, open_index(settings))


def test_incremental_ingest_embeds_only_changes(tmp_path, embedder):
    knowledge = write_deck(tmp_path / "k")
    settings = make_settings(tmp_path, knowledge_dir=knowledge)
    tutor = build(settings, embedder)
    first = tutor.reload()
    assert (first.slides, first.passages, first.embedded, first.deleted) == (3, 12, 12, 0)

    again = build(settings, embedder).reload()  # a new process would see the same
    assert (again.embedded, again.deleted) == (0, 0)

    changed = dict(TOPICS)
    changed[2] = ("Volcanoes", "Magma chambers feed eruptions of lava, gas and ash.")
    del changed[3]
    for path in knowledge.glob("*.md"):
        path.unlink()
    write_deck(knowledge, changed)
    report = tutor.reload()
    assert (report.slides, report.embedded, report.deleted) == (2, 1, 4)
    assert tutor.index.count() == sum(len(p.records()) for p in tutor.knowledge.passages)
    answer = tutor.ask("what feeds an eruption?")
    assert answer.confident and answer.sources[0].slide == 2
    assert "Magma chambers" in answer.text


def test_an_index_built_with_older_graph_settings_is_rebuilt_from_its_vectors(tmp_path, embedder, monkeypatch):
    from bot.domain import index as index_module

    settings = make_settings(tmp_path, knowledge_dir=write_deck(tmp_path / "k"))
    monkeypatch.setattr(index_module, "HNSW_MAX_NEIGHBORS", 16)  # as an earlier version built it
    build(settings, embedder).reload()
    monkeypatch.undo()
    report = build(settings, embedder).reload()
    assert report.rebuilt == "the vector search's graph settings changed" and report.embedded == 0
    tutor = build(settings, embedder)
    assert tutor.index.active().configuration_json["hnsw"]["max_neighbors"] == index_module.HNSW_MAX_NEIGHBORS
    assert tutor.reload().rebuilt is None
    assert tutor.ask("How do volcanoes erupt?").sources[0].slide == 2


def test_a_deck_bigger_than_one_read_is_read_in_pages(tmp_path, embedder, monkeypatch):
    # A 2,000-slide deck's records failed to read in one Chroma get (SQLite's variable limit);
    # a page of 7 records here makes the same 3-slide deck span many pages.
    from bot.domain import index as index_module

    monkeypatch.setattr(index_module, "GET_PAGE", 7)
    knowledge = write_deck(tmp_path / "k")
    tutor = build(make_settings(tmp_path, knowledge_dir=knowledge), embedder)
    assert tutor.reload().embedded == 12
    records = [record for passage in tutor.knowledge.passages for record in passage.records()]
    units = [record for record in records if record.kind == "unit"]
    assert len(records) > 3 * 7 and len(units) > 7
    ids, vectors, metadatas = tutor.index.stored_vectors("unit")
    assert sorted(ids) == sorted(record.id for record in units)  # every page, each record once
    expected = dict(zip([r.id for r in units], embedder.encode([r.text for r in units]), strict=True))
    assert np.allclose(vectors, np.stack([expected[rid] for rid in ids]), atol=1e-5)
    assert {meta["kind"] for meta in metadatas} == {"unit"}
    assert sorted(tutor.index.indexed_slides()) == [1, 2, 3]

    changed = dict(TOPICS)
    changed[2] = ("Volcanoes", "Magma chambers feed eruptions of lava, gas and ash.")
    (knowledge / "02.md").unlink()
    write_deck(knowledge, changed)
    report = tutor.reload()  # the stored hashes and the kept vectors are read in pages too
    assert (report.embedded, report.deleted) == (1, 0)
    assert tutor.index.count() == len(records)
    assert tutor.ask("what feeds an eruption?").sources[0].slide == 2


def test_progress_ingest_embeds_in_length_order_and_keeps_each_vector_with_its_record():
    from bot.domain.index import EMBED_BATCH, _embed_with_progress

    texts = [f"Record {n}: " + "about tides and volcanoes. " * (n % 7) for n in range(EMBED_BATCH * 5)]
    calls: list[list[str]] = []

    def embed(batch: list[str]) -> np.ndarray:  # a vector that says which text it came from
        calls.append(batch)
        return np.asarray([[float(text.split(":")[0].split()[1]), len(text)] for text in batch], dtype=np.float32)

    vectors = _embed_with_progress(embed, texts, progress=True)
    assert len(calls) > 1  # cut into chunks for the bar
    lengths = [len(text) for call in calls for text in call]
    assert lengths == sorted(lengths, reverse=True)  # similar lengths batched together
    assert sorted(text for call in calls for text in call) == sorted(texts)  # each text once
    assert vectors.tolist() == [[float(n), len(text)] for n, text in enumerate(texts)]


def test_changing_the_embedding_model_rebuilds_cleanly(tmp_path, embedder):
    """A 64-dimension model replaces the 384-dimension one: no dimension-mismatch crash."""
    from sentence_transformers import SentenceTransformer, models

    from bot.domain.embedding import Embedder, resolve_embedding_model

    base = models.Transformer(resolve_embedding_model("all-MiniLM-L6-v2"))
    pooling = models.Pooling(base.get_embedding_dimension())
    dense = models.Dense(base.get_embedding_dimension(), 64)
    small = tmp_path / "small-model"
    SentenceTransformer(modules=[base, pooling, dense]).save(str(small))

    knowledge = write_deck(tmp_path / "k")
    build(make_settings(tmp_path, knowledge_dir=knowledge), embedder).reload()
    settings = make_settings(tmp_path, knowledge_dir=knowledge, embedding_model=str(small))
    tutor = build(settings, Embedder(str(small)))
    report = tutor.reload()
    assert report.embedded == report.passages == 12
    assert report.rebuilt
    assert tutor.ask("Tell me about the moon and the sea").sources  # queries the 64-d index


def test_damaged_index_folder_is_rebuilt(tmp_path, embedder, caplog):
    knowledge = write_deck(tmp_path / "k")
    settings = make_settings(tmp_path, knowledge_dir=knowledge)
    build(settings, embedder).reload()
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()  # as a fresh process would open it
    (settings.chroma_dir / "chroma.sqlite3").write_bytes(b"this is not a database" * 100)
    tutor = build(settings, embedder)
    assert tutor.index.recovered_from
    assert "damaged" in caplog.text
    report = tutor.reload()
    assert report.embedded == 12
    assert tutor.ask("how do plants make sugar?").sources[0].slide == 1
    assert list(tmp_path.glob("data/chroma.damaged-*")), "the damaged folder is kept aside, not deleted"


def test_missing_data_folder_is_created(tmp_path, embedder):
    knowledge = write_deck(tmp_path / "k")
    settings = make_settings(tmp_path, knowledge_dir=knowledge, data_dir=tmp_path / "new" / "data")
    tutor, report = Tutor.load(settings)
    assert report.embedded == 12 and settings.chroma_dir.is_dir()


KILLED_INGEST = """
import sys
import numpy as np
from bot.domain.tutor import Tutor, open_index
from tests.conftest import make_settings
from pathlib import Path

settings = make_settings(Path(sys.argv[1]), knowledge_dir=Path(sys.argv[2]))

class Hashing:
    # A fast stand-in embedder: the crash under test is in Chroma's writes, not in the model.
    def encode(self, texts):
        rng = np.random.default_rng(len(texts))
        vectors = rng.normal(size=(len(texts), 384)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    def encode_one(self, text):
        return self.encode([text])[0]

def announce(collection_add):
    def add(self, *args, **kwargs):
        collection_add(self, *args, **kwargs)
        print("ADDED", flush=True)
    return add

from chromadb.api.models.Collection import Collection
Collection.add = announce(Collection.add)
tutor = Tutor(settings, Hashing(), open_index(settings))
tutor.reload()
print("DONE", flush=True)
"""


def test_ingest_killed_part_way_leaves_the_previous_index_answering(tmp_path, embedder):
    knowledge = write_deck(tmp_path / "k")
    settings = make_settings(tmp_path, knowledge_dir=knowledge)
    build(settings, embedder).reload()

    # A much bigger deck: its ingest writes several batches, and is killed after the first.
    big = {n: (f"Topic {n}", f"Synthetic overview number {n} about subject {n}.") for n in range(4, 800)}
    write_deck(knowledge, big)
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_INGEST, str(tmp_path), str(knowledge)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        line = child.stdout.readline()
        assert line.strip() == "ADDED", f"the child ingest did not start writing: {line!r}"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    for path in knowledge.glob("*.md"):
        if int(path.stem) >= 4:
            path.unlink()
    tutor = build(settings, embedder)
    assert tutor.index.recovered_from is None
    tutor._knowledge = None
    # The previous generation still answers, before any new ingest runs.
    from bot.domain.loaders import load_deck
    from bot.domain.passages import passages_from_deck
    from bot.domain.retrieval import Retriever

    passages = passages_from_deck(load_deck(knowledge).deck)
    hits = Retriever(passages, tutor.index, embedder.encode_one).search("the moon pulls the oceans", k=1)
    assert hits[0].passage.slide == 3
    # The next run completes and removes the half-written generation.
    report = tutor.reload()
    assert report.embedded == 0 and report.passages == 12
    assert len(tutor.index._generations()) == 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def chroma_server(tmp_path):
    """A real `chroma run` server on 127.0.0.1, stopped with SIGTERM afterwards."""
    port = _free_port()
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent))
    assert chroma, "the chroma command ships with the chromadb package"
    process = subprocess.Popen(
        [chroma, "run", "--path", str(tmp_path / "server"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            assert process.poll() is None, "chroma run exited early"
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("chroma run did not start listening within 60 s")
    yield port
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


def test_chroma_server_path(tmp_path, embedder, chroma_server):
    knowledge = write_deck(tmp_path / "k")
    settings = make_settings(tmp_path, knowledge_dir=knowledge, chroma_host="127.0.0.1", chroma_port=chroma_server)
    tutor = build(settings, embedder)
    assert tutor.index.local_path is None
    report = tutor.reload()
    assert report.embedded == 12
    again = build(settings, embedder).reload()
    assert again.embedded == 0 and again.rebuilt is None, "a second bot on the same server rebuilds nothing"
    answer = tutor.ask("How do volcanoes erupt?")
    assert answer.confident and answer.sources[0].slide == 2
    assert not settings.chroma_dir.exists(), "nothing was written to the embedded store"
