"""A course per server: uploads through the real loaders, indexed apart in the real Chroma with the
real embedding model, answered only in their own server; broken files change nothing; a server
keeps answering from its old deck while a new one is indexed."""

from __future__ import annotations

import threading

import pytest

from bot.domain.conversation import Key
from bot.domain.courses import CourseError, Courses, CourseTutoring, safe_file_name
from tests.course_files import BAKING_PAGES, ESPRESSO_SLIDES, make_pdf, make_pptx


@pytest.fixture
def courses(tutor, tmp_path):
    settings = tutor.settings.model_copy(update={"data_dir": tmp_path / "data"})
    made = Courses(settings, tutor)
    yield made
    for guild in made.files.guilds():
        made.reset(guild)


def key(place: str, user: str = "ana") -> Key:
    return Key(place, "channel", user)


def test_a_pdf_and_a_pptx_make_a_servers_course_answered_only_there(courses):
    tutoring = CourseTutoring(courses)
    added = courses.add(101, "baking.pdf", make_pdf(BAKING_PAGES))
    assert added.problems == () and added.slides == 2 and added.report.embedded > 0
    added = courses.add(101, "coffee.pptx", make_pptx(ESPRESSO_SLIDES))
    deck = courses.tutor_for("101").deck
    # the PowerPoint's slides 1-2 would clash with the PDF's: they are numbered on after it
    assert [(s.number, s.title) for s in deck] == [
        (1, "Sourdough Starter"),
        (2, "Kneading Dough"),
        (3, "Espresso Extraction"),
        (4, "Milk Steaming"),
    ]
    assert [f.name for f in added.files] == ["baking.pdf", "coffee.pptx"]
    assert (courses.files.folder(101) / "coffee.pptx").is_file()

    here = tutoring.respond(key("101"), "what is a sourdough starter?")
    assert here.kind == "answer" and here.slides == [1] and "wild yeast" in here.text
    assert tutoring.respond(key("101"), "why does my espresso taste sour?").slides == [3]
    for elsewhere in ("202", "dm", "local"):
        assert tutoring.respond(key(elsewhere), "what is a sourdough starter?").kind == "decline", elsewhere
    assert tutoring.respond(key("202"), "what is an embedding?").slides == [13], "the default deck elsewhere"


def test_a_broken_upload_is_reported_by_name_and_nothing_is_lost(courses):
    courses.add(102, "baking.pdf", make_pdf(BAKING_PAGES))
    before = courses.tutor_for(102)
    change = courses.add(102, "notes.pdf", b"%PDF-1.4 this is not really a pdf")
    assert change.report is None
    [problem] = change.problems
    assert problem.file == "notes.pdf" and "not a readable PDF" in problem.message
    assert [f.name for f in change.files] == ["baking.pdf"]
    assert not (courses.files.folder(102) / "notes.pdf").exists()
    assert courses.tutor_for(102) is before and len(before.deck) == 2
    too_big = courses.add(102, "huge.md", b"x" * (courses.files.limits.file_bytes + 1))
    assert "over MAX_DECK_FILE_MB" in too_big.problems[0].message and len(too_big.files) == 1


def test_remove_and_reset_go_back_to_the_default_deck(courses, tutor):
    tutoring = CourseTutoring(courses)
    courses.add(103, "baking.pdf", make_pdf(BAKING_PAGES))
    courses.add(103, "coffee.pptx", make_pptx(ESPRESSO_SLIDES))
    change = courses.remove(103, "baking.pdf")
    assert [f.name for f in change.files] == ["coffee.pptx"]
    assert tutoring.respond(key("103"), "what is a sourdough starter?").kind == "decline"
    assert [s.number for s in courses.tutor_for(103).deck] == [1, 2], "no clash left: its own numbers again"
    with pytest.raises(CourseError, match="no file"):
        courses.remove(103, "missing.pdf")
    reset = courses.reset(103)
    assert reset.files == [] and reset.slides == len(tutor.deck)
    assert courses.tutor_for("103") is tutor
    assert not courses.files.folder(103).exists()
    assert tutoring.respond(key("103"), "what is an embedding?").slides == [13]


def test_the_old_deck_answers_while_a_new_upload_is_indexed(courses, monkeypatch):
    tutoring = CourseTutoring(courses)
    courses.add(104, "baking.pdf", make_pdf(BAKING_PAGES))
    course = courses.tutor_for(104)
    embedder = course.embedder
    started, release = threading.Event(), threading.Event()
    real_encode = embedder.encode

    def slow_encode(texts, *args, **kwargs):
        if threading.current_thread().name == "upload":
            started.set()
            assert release.wait(60)
        return real_encode(texts, *args, **kwargs)

    monkeypatch.setattr(embedder, "encode", slow_encode)
    upload = threading.Thread(target=courses.add, args=(104, "coffee.pptx", make_pptx(ESPRESSO_SLIDES)), name="upload")
    upload.start()
    try:
        assert started.wait(60), "the upload reached indexing"
        # mid-index: the old deck still answers, and the new file's slides are not served yet
        assert tutoring.respond(key("104"), "what is a sourdough starter?").slides == [1]
        assert 3 not in tutoring.respond(key("104"), "why does my espresso taste sour?").slides
    finally:
        release.set()
        upload.join(60)
    assert tutoring.respond(key("104"), "why does my espresso taste sour?").slides == [3]


def test_upload_names_are_made_safe():
    assert safe_file_name("../../etc/Lecture 1 (final).PDF") == "Lecture-1-final.pdf"
    assert safe_file_name("C:\\slides\\deck.pptx") == "deck.pptx"
    with pytest.raises(CourseError, match="not a deck file"):
        safe_file_name("malware.exe")
