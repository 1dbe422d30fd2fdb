"""The default deck changed on the host while the bot runs (its files, then ``python -m bot ingest`` in
another process): the running tutor follows the new index generation without a restart, embeds
nothing itself, and no server's own course is touched by either ingest."""

from __future__ import annotations

import json

from bot.domain.courses import Courses
from tests.conftest import make_settings, run_cli
from tests.test_index import SLIDE, TOPICS, build, write_deck

GLACIERS = SLIDE.format(
    n=1, title="Glaciers", overview="Glaciers carve U-shaped valleys as the ice slowly grinds rock."
)


def host_ingest(settings) -> dict:
    """``python -m bot ingest --json`` in a process of its own, on the bot's folders."""
    done = run_cli(
        "ingest",
        "--json",
        knowledge_dir=settings.knowledge_dir,
        data_dir=settings.data_dir,
        chroma_collection=settings.chroma_collection,
        chroma_host=None,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_running_tutor_follows_the_hosts_ingest_and_courses_are_kept(tmp_path, embedder):
    knowledge = write_deck(tmp_path / "k")
    settings = make_settings(tmp_path, knowledge_dir=knowledge)
    tutor = build(settings, embedder)  # the running bot's
    tutor.reload()
    courses = Courses(settings, tutor)
    added = courses.add(42, "glaciers.md", GLACIERS.encode())
    assert added.report is not None and added.report.embedded == 4  # its passages
    course_index = courses.tutor_for(42).index
    assert tutor.refresh() is None, "nothing changed yet"

    # The host edits a slide and re-ingests, in another process.
    changed = dict(TOPICS)
    changed[2] = ("Volcanoes", "Magma chambers feed eruptions of lava, gas and ash.")
    write_deck(knowledge, changed)
    report = host_ingest(settings)
    assert (report["slides"], report["embedded"]) == (3, 1)
    assert "Magma chambers" not in tutor.ask("what feeds an eruption?").text, "the old deck until it looks"

    followed = tutor.refresh()
    assert followed is not None and followed.embedded == 0, "the host embedded it; the bot only reads it"
    answer = tutor.ask("what feeds an eruption?")
    assert answer.confident and answer.sources[0].slide == 2 and "Magma chambers" in answer.text
    assert tutor.refresh() is None, "followed once"

    # Neither ingest took the server's course for the default deck's or deleted it.
    assert course_index.newest() is not None and course_index.count() > 0
    glacier = courses.tutor_for(42).ask("what carves U-shaped valleys?")
    assert glacier.confident and "U-shaped valleys" in glacier.text
    assert tutor.index.count() == sum(len(p.records()) for p in tutor.knowledge.passages)

    # The bot's own reload of the default deck leaves the course alone too.
    changed[3] = ("Tides", "Spring tides come when the sun and moon line up.")
    write_deck(knowledge, changed)
    tutor.reload()
    assert course_index.count() > 0 and "Glaciers" in courses.tutor_for(42).deck.get(1).title
    assert courses.tutor_for(42).ask("what carves U-shaped valleys?").confident
