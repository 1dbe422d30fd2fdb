"""Deck files are untrusted: a link, a broken or hostile file never leaks secrets, crashes or blows up."""

from __future__ import annotations

import os

import pytest

from bot.domain.loaders import MalformedFile, deck_files, load_deck, load_file
from tests.test_loaders import GOOD_MD, write

TOKEN = "very-secret-discord-token"


def slide_md(number: int, title: str = "Attention") -> str:
    return GOOD_MD.replace("number: 3", f"number: {number}").replace("title: Attention", f"title: {title}")


def everything(result) -> str:
    return repr([slide.to_dict() for slide in result.deck]) + repr(result.problems)


# --------------------------------------------------------------------------- links


def test_links_outside_the_folder_are_reported_and_never_read(tmp_path):
    (tmp_path / ".env").write_text(f"DISCORD_TOKEN={TOKEN}\n", encoding="utf-8")
    (tmp_path / "elsewhere").mkdir()
    write(tmp_path / "elsewhere", "05-outside.md", slide_md(5).replace("Attention lets", f"{TOKEN} lets"))
    knowledge = tmp_path / "knowledge"
    knowledge.mkdir()
    write(knowledge, "03-good.md", slide_md(3))
    (knowledge / "71-x.txt").symlink_to("../.env")
    (knowledge / "05-outside.md").symlink_to(tmp_path / "elsewhere" / "05-outside.md")
    (knowledge / "more").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    # A link that stays inside the folder is fine.
    (knowledge / "src").mkdir()
    write(knowledge / "src", "slide.md", slide_md(8, "Inside"))
    (knowledge / "08-inside.md").symlink_to("src/slide.md")

    result = load_deck(knowledge)

    assert result.deck.numbers == [3, 8]
    assert TOKEN not in everything(result)
    reasons = {p.file: p.message for p in result.problems}
    assert reasons == {
        "71-x.txt": "links outside the knowledge folder; not read",
        "05-outside.md": "links outside the knowledge folder; not read",
        "more": "links outside the knowledge folder; not read",
    }
    assert [p.name for p in deck_files(knowledge)] == ["03-good.md", "08-inside.md"]
    with pytest.raises(MalformedFile, match="outside the knowledge folder"):
        load_file(knowledge / "71-x.txt", knowledge)


def test_a_link_loop_is_a_problem_and_a_linked_knowledge_folder_still_loads(tmp_path):
    knowledge = tmp_path / "knowledge"
    knowledge.mkdir()
    write(knowledge, "03-good.md", slide_md(3))
    (knowledge / "04-loop.md").symlink_to("04-loop.md")
    (tmp_path / "deck").symlink_to(knowledge, target_is_directory=True)

    result = load_deck(tmp_path / "deck")

    assert result.deck.numbers == [3]
    assert [p.file for p in result.problems] == ["04-loop.md"]
    assert "cannot be followed" in result.problems[0].message


def test_a_fifo_named_like_a_slide_is_not_opened(tmp_path):
    write(tmp_path, "03-good.md", slide_md(3))
    os.mkfifo(tmp_path / "04-pipe.md")  # opening it for reading would block forever
    result = load_deck(tmp_path)
    assert result.deck.numbers == [3] and result.problems == []
