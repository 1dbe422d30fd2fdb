"""The command line as an instructor uses it: real processes, real models, JSON out."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli


def test_deck_lists_every_slide_in_order():
    result = run_cli("deck", "--json")
    assert result.returncode == 0, result.stderr
    deck = json.loads(result.stdout)
    assert [slide["number"] for slide in deck] == list(range(1, 23))
    assert deck[12] == {"number": 13, "title": "Tokenization, Embeddings and Latent Space"}


def test_slide_prints_sections_and_faq():
    result = run_cli("slide", "13", "--json")
    assert result.returncode == 0, result.stderr
    slide = json.loads(result.stdout)
    assert set(slide) == {"number", "title", "subtitle", "sections", "faq", "source"}
    assert [s["heading"] for s in slide["sections"]][:3] == ["Overview", "In Plain Words", "Key Concepts"]
    assert {"q": "Why are embeddings important?", "a": slide["faq"][0]["a"]} == slide["faq"][0]
    assert slide["source"] == "13-tokenization-embeddings-latent-space.md"


def test_unknown_slide_exits_2_naming_the_range():
    result = run_cli("slide", "99")
    assert result.returncode == 2
    assert "valid slides are 1-22" in result.stderr


def test_empty_question_exits_2():
    result = run_cli("ask", "   ")
    assert result.returncode == 2
    assert "question is empty" in result.stderr


@pytest.mark.parametrize("command", ["ingest", "deck", "slide", "ask", "run", "sync"])
def test_every_command_has_help(command):
    result = run_cli(command, "--help")
    assert result.returncode == 0 and "usage:" in result.stdout
    assert len(result.stdout.splitlines()) >= 4


def test_ingest_and_ask_from_standard_input(tutor):
    """One process answers many questions (models loaded once); the index is reused as it is."""
    data_dir = tutor.settings.data_dir
    ingest = run_cli("ingest", "--json", data_dir=data_dir)
    assert ingest.returncode == 0, ingest.stderr
    report = json.loads(ingest.stdout)
    assert set(report) == {"slides", "passages", "embedded", "deleted", "seconds", "changes", "problems"}
    assert report["slides"] == 22 and report["embedded"] == 0

    questions = "what is lora?\n\nHOW DOES TEMPERATURE AFFECT SAMPLING\nwhat's the best pizza topping?\n"
    result = run_cli("ask", "-", "--json", data_dir=data_dir, stdin=questions)
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["question"] for a in answers] == [
        "what is lora?",
        "HOW DOES TEMPERATURE AFFECT SAMPLING",
        "what's the best pizza topping?",
    ]
    assert set(answers[0]) == {"question", "answer", "kind", "confident", "sources"}
    assert answers[0]["confident"] and answers[0]["sources"][0]["slide"] == 12
    assert set(answers[0]["sources"][0]) == {"slide", "title", "section", "score"}
    assert answers[1]["sources"][0]["slide"] == 10
    assert not answers[2]["confident"]


def test_terminal_session_answers_and_steps(tutor, tmp_path):
    """`python -m bot run` without a token: the terminal session, driven through standard input."""
    data_dir = tutor.settings.data_dir
    lines = "what is a transformer?\n/next\n/next\n/deck\n/slide 99\n/tokenize gpt2 Tokenization\n/quit\n"
    result = run_cli("run", data_dir=data_dir, stdin=lines)
    assert result.returncode == 0, result.stderr
    assert "terminal session" in result.stderr
    out = result.stdout
    assert "Slide 8" in out
    assert "Slide 2: Traditional AI vs Generative AI" in out, "the second /next is slide 2"
    assert "→   2  Traditional AI vs Generative AI" in out
    assert "slides are 1-22" in out
    assert "GPT-2 BPE: 2 tokens" in out


def test_chat_json_gives_one_object_a_line_and_moving_on_is_not_a_quiz_answer(tutor):
    """After "quiz me", "skip" shows the answer unmarked and "next slide" moves on: neither is graded."""
    lines = "what is a transformer?\nquiz me\nskip\nquiz me\nnext slide\n/reset\n"
    result = run_cli("chat", "--json", data_dir=tutor.settings.data_dir, stdin=lines)
    assert result.returncode == 0, result.stderr
    replies = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["message"] for r in replies] == lines.splitlines()
    assert {"message", "reply", "kind", "confident", "sources"} <= set(replies[0])
    quiz, skipped, _, moved, reset = replies[1:]
    assert "Quiz on slide 8" in quiz["reply"] and "skip" in quiz["reply"]
    assert skipped["reply"].startswith("Skipped. The slide's answer:")
    assert moved["reply"].startswith("Here's the next slide.") and "The slide's answer" not in moved["reply"]
    assert reset["kind"] == "command"
