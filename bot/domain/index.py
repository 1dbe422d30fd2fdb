"""The deck's passages in Chroma: incremental, crash-safe ingestion and vector search.

Safety comes from generations: an ingest that changes anything writes a *new* collection
(``<base>-g<time>``), copying unchanged vectors and embedding only what changed, and marks it
``complete`` as its last step. Readers always use the newest complete generation, so an ingest
killed part-way leaves the previous index answering; the next run removes the leftovers.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import shutil
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from bot.domain.errors import ServiceUnavailable, UserError
from bot.domain.passages import Passage, Record

log = logging.getLogger(__name__)

EMBED_BATCH = 128
# The graph search's breadth: a deck's few thousand vectors are searched nearly exhaustively, so a
# question's one relevant passage is not lost among the sentence vectors the query filters out
# (at Chroma's default of 100, 19 of the 6,000 nearest records of 150 eval questions were missed).
HNSW_EF_SEARCH = 500
# ... and a graph built with more links: at Chroma's defaults (16 neighbours, construction breadth
# 100) 2 of 14 builds of this deck lost a record from a question's 40 nearest, once the very
# nearest; with these, none of 14 (the ingest costs more, the search does not).
HNSW_MAX_NEIGHBORS = 32
HNSW_EF_CONSTRUCTION = 400
# Records read per Chroma ``get``: reading a big deck's records in one call fails in SQLite ("too
# many SQL variables" past 32,766 records; 2,000 slides make about 190,000).
GET_PAGE = 10_000
T = TypeVar("T")
# Pauses between tries of one call to a Chroma server that is not answering (about 4 s in all).
RETRY_DELAYS_S = (0.25, 0.5, 1.0, 2.0)


class IndexAway(UserError):
    """The Chroma server stopped answering while the bot runs (after retries): the learner is told
    to try again; the outage is logged once for the operator (with where and why)."""

    def __init__(self) -> None:
        super().__init__("The slide index is not answering right now; please try again in a moment.")


def _outage(error: BaseException) -> BaseException | None:
    """The error that says a Chroma server is away (refused, reset, timed out, restarting), found
    in ``error`` or what it was raised from (chromadb wraps a refused connection in ValueError);
    None for any other error (a bad request is not an outage)."""
    import httpx

    chain: list[BaseException] = []
    seen: BaseException | None = error
    while seen is not None and len(chain) < 8:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    if any(isinstance(e, ssl.SSLError) or "certificate" in str(e).lower() for e in chain):
        return None  # TLS that fails is a setting to fix, not a server that is away
    for seen in chain:
        if isinstance(seen, (httpx.TransportError, ConnectionError)):
            return seen
        if isinstance(seen, httpx.HTTPStatusError) and seen.response.status_code >= 500:
            return seen
    return None


def _is_outage(error: BaseException) -> bool:
    return _outage(error) is not None


@dataclass(frozen=True, slots=True)
class IngestReport:
    slides: int
    passages: int
    embedded: int
    deleted: int
    seconds: float
    rebuilt: str | None = None  # why the index was rebuilt from scratch, if it was
    changes: tuple[str, ...] = ()  # slides of the previous deck dropped or replaced by another file

    def to_dict(self) -> dict:
        return {
            "slides": self.slides,
            "passages": self.passages,
            "embedded": self.embedded,
            "deleted": self.deleted,
            "seconds": round(self.seconds, 3),
            "changes": list(self.changes),
        }


class IndexUnavailable(ServiceUnavailable):
    """The Chroma server cannot be used: unreachable, refused the token, or failed TLS. The message
    is one line for an operator (host, port, and what to check); never the token."""


@dataclass(frozen=True, slots=True)
class ServerAccess:
    """How to reach a Chroma server: where, a token sent with every request, TLS."""

    host: str
    port: int = 8000
    token: str | None = None  # sent in ``header``; as "Bearer <token>" in Authorization
    header: str = "Authorization"
    ssl: bool = False
    ca_file: Path | None = None  # a CA bundle to trust for TLS; None: the system's

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl else 'http'}://{self.host}:{self.port}"

    def headers(self) -> dict[str, str]:
        if not self.token:
            return {}
        return {self.header: f"Bearer {self.token}" if self.header.lower() == "authorization" else self.token}

    def connect(self, chroma_settings):
        """A chromadb HttpClient for this server (it asks the server for its tenant at once)."""
        import chromadb

        if self.ssl and self.ca_file is not None:
            chroma_settings.chroma_server_ssl_verify = str(self.ca_file)
        try:
            return chromadb.HttpClient(
                host=self.host, port=self.port, ssl=self.ssl, headers=self.headers(), settings=chroma_settings
            )
        except Exception as error:  # noqa: BLE001 - chromadb raises many types; all mean "cannot use it"
            raise IndexUnavailable(self.explain(error)) from None

    def explain(self, error: BaseException) -> str:
        text = " ".join(str(error).split()) or type(error).__name__
        causes, seen = [], error
        while seen is not None and len(causes) < 8:  # chromadb wraps the cause in a generic message
            causes.append(f"{type(seen).__name__} {seen}")
            seen = seen.__cause__ or seen.__context__
        if self.token:
            text = text.replace(self.token, "***")
        lowered = " ".join(causes).lower()
        if any(word in lowered for word in ("certificate", "ssl", "tls", "wrong version number")):
            hint = "TLS failed: check CHROMA_SSL and CHROMA_SSL_CA_FILE"
        elif any(word in lowered for word in ("401", "403", "unauthori", "forbidden", "authenticat")):
            hint = "the server refused the token: check CHROMA_AUTH_TOKEN and CHROMA_AUTH_HEADER"
        else:
            hint = "check CHROMA_HOST, CHROMA_PORT and that the server is running"
        return f"cannot use the Chroma server at {self.url}: {hint} ({text[:200]})"


@dataclass(frozen=True, slots=True)
class Hit:
    """A record found by vector search: which passage, which part of it, and how close."""

    record: str
    passage: str
    kind: str
    score: float  # cosine similarity

    @property
    def block(self) -> int | None:
        return int(self.record.rsplit("~b", 1)[1]) if self.kind == "block" else None


class VectorIndex:
    """The Chroma side: open embedded or server, ingest by generations, query the newest one."""

    def __init__(self, client, base_name: str, embedding_model: str, local_path: Path | None = None) -> None:
        self._client = client
        self.base_name = base_name
        self.embedding_model = embedding_model
        self.local_path = local_path
        self.recovered_from: str | None = None  # why a damaged folder was rebuilt, if it was
        self.server: ServerAccess | None = None
        self._collection = None
        self._down_since: float | None = None  # when the server stopped answering (one outage)
        self._outage_lock = threading.Lock()

    def ping(self) -> None:
        """Raise if the store does not answer (a health probe: one cheap round trip to a server)."""
        try:
            self._client.heartbeat()
            if self.server is not None:
                self._client.count_collections()  # heartbeat is public: this one needs the token too
        except Exception as error:  # noqa: BLE001 - any failure means "not reachable"
            if self.server is not None:
                raise IndexUnavailable(self.server.explain(error)) from None
            raise

    # ---------------------------------------------------------------- opening

    @classmethod
    def open(
        cls,
        *,
        base_name: str,
        embedding_model: str,
        path: Path | None = None,
        host: str | None = None,
        port: int = 8000,
        server: ServerAccess | None = None,
        wait_s: float = 0.0,
    ) -> VectorIndex:
        """Embedded Chroma in ``path`` by default; a Chroma server when ``host`` (or ``server``, with
        a token and TLS) is given, waited for up to ``wait_s`` seconds (``CHROMA_WAIT_S``) with a
        progress line in the log. A server that cannot be used raises :class:`IndexUnavailable`.

        A local folder that Chroma cannot open is moved aside and rebuilt (logged as a warning).
        """
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        if server is None and host:
            server = ServerAccess(host, port)
        if server is not None:
            index = cls(_wait_for_server(server, chroma_settings, wait_s), base_name, embedding_model)
            index.server = server
            return index
        if path is None:
            raise ValueError("an embedded index needs a folder")
        try:
            index = cls(
                chromadb.PersistentClient(path=str(path), settings=chroma_settings), base_name, embedding_model, path
            )
            index.active()  # reads the database: fails here when it is damaged
            return index
        except Exception as error:  # noqa: BLE001 - any failure to open or read means the folder is unusable
            moved = path.with_name(f"{path.name}.damaged-{time.time_ns()}")
            log.warning("index folder %s is damaged (%s); moved it to %s and rebuilding", path, error, moved)
            if path.exists():
                shutil.move(str(path), str(moved))
            _drop_cached_systems()
            index = cls(
                chromadb.PersistentClient(path=str(path), settings=chroma_settings), base_name, embedding_model, path
            )
            index.recovered_from = f"{type(error).__name__}: {error}"
            return index

    def sibling(self, base_name: str) -> VectorIndex:
        """Another index (its own collections, named ``base_name``) in the same Chroma: a server's course."""
        sibling = VectorIndex(self._client, base_name, self.embedding_model, self.local_path)
        sibling.server = self.server
        return sibling

    def drop(self) -> None:
        """Delete every generation of this index (a server's course removed)."""
        self._collection = None
        self._remove_generations(keep=None)

    def _is_generation(self, name: str) -> bool:
        """Whether a collection is one of our generations (``<base>-g<digits>``): a server's course,
        ``<base>-guild<id>-g<digits>``, shares the prefix but is another index's."""
        prefix = f"{self.base_name}-g"
        return name.startswith(prefix) and name[len(prefix) :].isdigit()

    def _generations(self) -> list[tuple[str, dict]]:
        """(name, metadata) of our collections, newest first."""
        found = []
        for collection in self._client.list_collections():
            name = collection if isinstance(collection, str) else collection.name
            if self._is_generation(name):
                found.append((name, self._client.get_collection(name, embedding_function=None).metadata or {}))
        return sorted(found, key=lambda item: (len(item[0]), item[0]), reverse=True)

    def newest(self) -> str | None:
        """The name of the newest complete generation in the store now, read afresh (another process,
        the host's ``python -m bot ingest``, may have made one since); None when there is none."""

        def newest() -> str | None:
            for name, meta in self._generations():
                if meta.get("complete") and meta.get("embedding_model") == self.embedding_model:
                    return name
            return None

        return self._retrying(newest)

    @property
    def in_use(self) -> str | None:
        """The name of the generation this process reads (None before the first read)."""
        return self._collection.name if self._collection is not None else None

    def follow(self) -> None:
        """Read the newest complete generation from the next call on (after another process's ingest)."""
        self._collection = None

    def active(self):
        """The newest complete generation built with our embedding model, or ``None``."""
        if self._collection is None:
            for name, meta in self._generations():
                if meta.get("complete") and meta.get("embedding_model") == self.embedding_model:
                    self._collection = self._client.get_collection(name, embedding_function=None)
                    break
        return self._collection

    # ---------------------------------------------------------------- ingest

    def _stored_hashes(self) -> dict[str, str]:
        collection = self.active()
        if collection is None:
            return {}
        got = _get_all(collection, ["metadatas"])
        return {rid: (meta or {}).get("hash", "") for rid, meta in zip(got["ids"], got["metadatas"], strict=True)}

    def ingest(
        self,
        passages: Sequence[Passage],
        embed: Callable[[list[str]], np.ndarray],
        slides: int,
        progress: bool = False,
    ) -> IngestReport:
        """Bring the index in line with ``passages``, embedding only new or changed records.

        ``embedded`` and ``deleted`` in the report count passages (a passage counts as embedded
        when any of its records was).
        """
        started = time.perf_counter()
        current = self.active()
        rebuilt = None
        if current is None and self._generations():
            rebuilt = "the embedding model changed or the previous ingest did not finish"
        self._remove_generations(keep=current)

        owned = [(record, passage) for passage in passages for record in passage.records()]
        owner = {record.id: passage for record, passage in owned}
        records = [record for record, _ in owned]
        fingerprint = _fingerprint(records)
        # a generation built with older graph settings is rebuilt from its stored vectors (nothing re-embedded)
        outdated = current is not None and not _graph_is_current(current)
        if outdated:
            rebuilt = "the vector search's graph settings changed"
        if current is not None and not outdated and (current.metadata or {}).get("fingerprint") == fingerprint:
            self.compact()  # (what an ingest killed part-way left behind)
            return IngestReport(slides, len(passages), 0, 0, time.perf_counter() - started)
        stored = self._stored_hashes()
        changed = [r for r in records if stored.get(r.id) != r.content_hash]
        gone = [rid for rid in stored if rid not in owner]
        changed_passages = {r.passage for r in changed}
        gone_passages = {rid.split("~")[0] for rid in gone} - {p.id for p in passages}
        if current is not None and not changed and not gone and not outdated:
            return IngestReport(slides, len(passages), 0, 0, time.perf_counter() - started)

        kept = [r for r in records if stored.get(r.id) == r.content_hash]
        kept_vectors = self._vectors(current, [r.id for r in kept]) if kept else None
        new_vectors = _embed_with_progress(embed, [r.text for r in changed], progress) if changed else None

        collection = self._client.create_collection(
            f"{self.base_name}-g{time.time_ns()}",
            configuration={
                "hnsw": {
                    "space": "cosine",
                    "ef_search": HNSW_EF_SEARCH,
                    "ef_construction": HNSW_EF_CONSTRUCTION,
                    "max_neighbors": HNSW_MAX_NEIGHBORS,
                }
            },
            metadata={"embedding_model": self.embedding_model, "complete": False},
            embedding_function=None,
        )
        for group, vectors in ((kept, kept_vectors), (changed, new_vectors)):
            for start in range(0, len(group), 2000):
                chunk = group[start : start + 2000]
                collection.add(
                    ids=[r.id for r in chunk],
                    embeddings=vectors[start : start + 2000],
                    documents=[r.text for r in chunk],
                    metadatas=[r.metadata(owner[r.id]) for r in chunk],
                )
        # The last step: from here on readers use the new generation.
        collection.modify(
            metadata={"embedding_model": self.embedding_model, "complete": True, "fingerprint": fingerprint}
        )
        self._collection = collection
        self._remove_generations(keep=collection)
        self.compact()
        return IngestReport(
            slides, len(passages), len(changed_passages), len(gone_passages), time.perf_counter() - started, rebuilt
        )

    def indexed_slides(self) -> dict[int, tuple[str, str]]:
        """Slide number -> (source, title) of the slides in the newest generation ({} if none)."""

        def read() -> dict[int, tuple[str, str]]:
            collection = self.active()
            if collection is None:
                return {}
            got = _get_all(collection, ["metadatas"], where={"kind": "passage"})
            return {int(m["slide"]): (str(m["source"]), str(m["title"])) for m in got["metadatas"] if m}

        return self._retrying(read)

    def _vectors(self, collection, ids: list[str]) -> np.ndarray:
        by_id = {}
        for start in range(0, len(ids), GET_PAGE):
            got = collection.get(ids=ids[start : start + GET_PAGE], include=["embeddings"])
            by_id.update(zip(got["ids"], got["embeddings"], strict=True))
        return np.asarray([by_id[rid] for rid in ids], dtype=np.float32)

    def compact(self) -> list[str]:
        """Remove what deleted generations leave behind in an embedded index's folder: segment
        folders no live collection uses (Chroma keeps them), then reclaim the database's free
        pages. Returns the folders removed. A Chroma server compacts its own storage."""
        import sqlite3
        import uuid

        if self.local_path is None or not (self.local_path / "chroma.sqlite3").exists():
            return []
        with contextlib.closing(sqlite3.connect(self.local_path / "chroma.sqlite3", timeout=30)) as db:
            live = {row[0] for row in db.execute("SELECT id FROM segments")}
        removed = []
        for folder in self.local_path.iterdir():
            try:
                uuid.UUID(folder.name)
            except ValueError:
                continue  # not a segment folder
            if folder.is_dir() and not folder.is_symlink() and folder.name not in live:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder.name)
        if removed:
            log.info("compacted the index: removed %d orphaned segment folder(s)", len(removed))
            try:
                with contextlib.closing(sqlite3.connect(self.local_path / "chroma.sqlite3", timeout=30)) as db:
                    db.execute("VACUUM")
            except sqlite3.OperationalError as error:  # busy: the folders are gone; the pages wait for next time
                log.info("could not reclaim the index database's free pages now (%s)", error)
        return removed

    def _remove_generations(self, keep) -> None:
        """Delete every generation but ``keep``: unfinished, superseded, or of another model."""
        for name, _ in self._generations():
            if keep is None or name != keep.name:
                log.info("removing index generation %s", name)
                self._client.delete_collection(name)

    # ---------------------------------------------------------------- outages

    def _retrying(self, call: Callable[[], T]) -> T:
        """``call()``, retried with backoff while a Chroma server is away (embedded: just once).

        A server already known to be away gets one try per call, so questions fail fast during an
        outage; its start and end are logged once each, not per question.
        """
        if self.server is None:
            return call()
        delays = () if self._down_since is not None else RETRY_DELAYS_S
        for attempt in range(len(delays) + 1):
            try:
                result = call()
            except Exception as error:
                if not _is_outage(error):
                    raise
                if attempt < len(delays):
                    time.sleep(delays[attempt])
                    continue
                self._went_down(error)
                raise IndexAway() from None
            self._came_back()
            return result
        raise AssertionError("unreachable")

    def _went_down(self, error: BaseException) -> None:
        with self._outage_lock:
            if self._down_since is None:
                self._down_since = time.monotonic()
                log.warning(
                    "the Chroma server at %s is not answering (%s); questions fail until it is back",
                    self.server.url,
                    f"{type(_outage(error)).__name__}: {_outage(error)}"[:200],
                )

    def _came_back(self) -> None:
        if self._down_since is None:
            return
        with self._outage_lock:
            if self._down_since is not None:
                log.warning(
                    "the Chroma server at %s is answering again (away %.1f s)",
                    self.server.url,
                    time.monotonic() - self._down_since,
                )
                self._down_since = None

    # ---------------------------------------------------------------- query

    def count(self) -> int:
        def count() -> int:
            collection = self.active()
            return collection.count() if collection is not None else 0

        return self._retrying(count)

    def stored_vectors(self, kind: str) -> tuple[list[str], np.ndarray, list[dict]] | None:
        """Ids, vectors and metadata of the stored records of one ``kind`` (see ``Record.kind``) in the
        newest generation; ``None`` when nothing has been indexed yet."""
        return self._retrying(lambda: self._stored_vectors(kind))

    def _stored_vectors(self, kind: str) -> tuple[list[str], np.ndarray, list[dict]] | None:
        collection = self.active()
        if collection is None:
            return None
        got = _get_all(collection, ["embeddings", "metadatas"], where={"kind": kind})
        if not got["ids"]:
            return [], np.empty((0, 0), dtype=np.float32), []
        vectors = got["embeddings"]
        return list(got["ids"]), vectors, [dict(meta or {}) for meta in got["metadatas"]]

    def query(self, vector: np.ndarray, k: int) -> list[Hit]:
        """The ``k`` nearest records by cosine similarity, best first. Raises
        :class:`IndexUnavailable` when a Chroma server does not answer (after retries)."""

        def query() -> list[Hit]:
            try:
                return self._query(vector, k)
            except Exception as error:
                if _is_outage(error):
                    raise
                self._collection = None  # another process may have replaced our generation
                return self._query(vector, k)

        return self._retrying(query)

    def _query(self, vector: np.ndarray, k: int) -> list[Hit]:
        collection = self.active()
        if collection is None:
            return []
        result = collection.query(
            query_embeddings=[vector], n_results=k, where={"kind": {"$ne": "unit"}}, include=["distances", "metadatas"]
        )
        return [
            Hit(rid, meta["passage"], meta["kind"], 1.0 - float(distance))
            for rid, meta, distance in zip(
                result["ids"][0], result["metadatas"][0], result["distances"][0], strict=True
            )
        ]


def _wait_for_server(server: ServerAccess, chroma_settings, wait_s: float):
    """A client for ``server`` once it answers, trying for up to ``wait_s`` seconds with a progress
    line in the log every few seconds; a server that refuses (a token, TLS) is not waited for."""
    started = time.monotonic()
    said = None
    delay = 0.25
    while True:
        try:
            return server.connect(chroma_settings)
        except IndexUnavailable as error:
            waited = time.monotonic() - started
            if not _is_outage(error) or waited >= wait_s:
                if not wait_s or not _is_outage(error):
                    raise
                raise IndexUnavailable(f"{error} (waited {waited:.0f} s, CHROMA_WAIT_S={wait_s:g})") from None
            if said is None or waited - said >= 5:
                log.warning("waiting for the Chroma server at %s (%.0f of %g s)…", server.url, waited, wait_s)
                said = waited
            time.sleep(min(delay, max(0.0, wait_s - waited)))
            delay = min(delay * 2, 2.0)


def _get_all(collection, include: list[str], where: dict | None = None) -> dict:
    """Every record ``collection.get`` would return (ids, and ``include``: "metadatas" as a list,
    "embeddings" as one float32 array), read ``GET_PAGE`` records at a time. A generation does not
    change once complete, so the pages add up to one consistent read."""
    got: dict = {"ids": [], "metadatas": [], "embeddings": []}
    offset = 0
    while True:
        page = collection.get(where=where, include=include, limit=GET_PAGE, offset=offset)
        got["ids"] += page["ids"]
        if "metadatas" in include:
            got["metadatas"] += page["metadatas"]
        if "embeddings" in include and len(page["ids"]):
            got["embeddings"].append(np.asarray(page["embeddings"], dtype=np.float32))
        if len(page["ids"]) < GET_PAGE:
            break
        offset += GET_PAGE
    if "embeddings" in include:
        got["embeddings"] = np.concatenate(got["embeddings"]) if got["embeddings"] else np.empty((0, 0), np.float32)
    return got


def _graph_is_current(collection) -> bool:
    """Whether a generation's graph was built with this version's settings (HNSW_MAX_NEIGHBORS)."""
    hnsw = (getattr(collection, "configuration_json", None) or {}).get("hnsw") or {}
    return hnsw.get("max_neighbors") == HNSW_MAX_NEIGHBORS


def _fingerprint(records: Sequence[Record]) -> str:
    """One hash of every record's id and content: equal means the index is already up to date."""
    digest = hashlib.sha256()
    for record in sorted(records, key=lambda r: r.id):
        digest.update(f"{record.id}\x1f{record.content_hash}\x1e".encode())
    return digest.hexdigest()


def _drop_cached_systems() -> None:
    """Chroma caches one client system per path; a moved-aside folder must not be reused."""
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()


def _embed_with_progress(embed: Callable[[list[str]], np.ndarray], texts: list[str], progress: bool) -> np.ndarray:
    """``embed(texts)``, with a progress bar for a big deck. The model pads each batch to its longest
    text, so the chunks the bar counts are cut from the texts in order of length (similar lengths
    together, as one call would batch them) and the vectors put back in the texts' order."""
    if not progress or len(texts) <= EMBED_BATCH:
        return embed(texts)
    from tqdm import tqdm

    order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
    vectors: np.ndarray | None = None
    with tqdm(total=len(texts), desc="Embedding passages", unit="passage") as bar:
        for start in range(0, len(texts), EMBED_BATCH * 4):
            chunk = order[start : start + EMBED_BATCH * 4]
            part = embed([texts[i] for i in chunk])
            if vectors is None:
                vectors = np.empty((len(texts), part.shape[1]), dtype=part.dtype)
            vectors[chunk] = part
            bar.update(len(chunk))
    return vectors
