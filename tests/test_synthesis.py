"""Grounded synthesis (ANSWER_STYLE=synthesis): the real deck, retriever and MiniLM, answers
written by the loopback OpenAI-compatible server (faithful, unfaithful and broken), through the
real generation service."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from bot.domain.conversation import Key, Reply, Tutoring
from bot.domain.generation import GenerationService, GenerationTimeout, OpenAIBackend
from bot.domain.synthesis import (
    Synthesizer,
    SynthesizingTutoring,
    passages_for,
    split_claims,
    synthesizer_for,
)
from tests.conftest import ROOT
from tests.fake_openai import (
    INVENTED,
    FakeOpenAI,
    faithful_answer,
    mostly_faithful_answer,
    passages_in,
    unfaithful_answer,
)

KEY = Key("test", "channel", "ada")
CITATION = re.compile(r"\[slide (\d+)\]")


def eval_questions(limit: int) -> list[dict]:
    rows = [json.loads(line) for line in (ROOT / "tests" / "eval" / "questions.jsonl").read_text().splitlines()]
    return [r for r in rows if r.get("slide")][:limit]


def tutoring_on(server: FakeOpenAI, tutor, timeout_s: float = 20.0) -> SynthesizingTutoring:
    service = GenerationService(OpenAIBackend(server.base_url, "fake-model"))
    return SynthesizingTutoring(tutor, synthesizer_for(lambda: service, tutor.embedder.encode, timeout_s))


async def respond(tutoring: Tutoring, message: str, key: Key = KEY) -> Reply:
    # Answering is blocking work done in a worker thread, as the front ends do; the fake server
    # keeps running on this loop meanwhile.
    return await asyncio.to_thread(tutoring.respond, key, message)


def test_split_claims_keeps_each_citation_with_its_sentence() -> None:
    text = "A transformer reads all tokens at once [slide 8]. It uses attention. [slide 8, 13]\n- Short one here [slide 2]."
    assert split_claims(text) == [
        ("A transformer reads all tokens at once.", (8,)),
        ("It uses attention.", (8, 13)),
        ("Short one here.", (2,)),
    ]


async def test_faithful_answers_are_worded_and_keep_the_right_citations(tutor) -> None:
    async with FakeOpenAI(respond=faithful_answer) as server:
        tutoring = tutoring_on(server, tutor)
        plain = Tutoring(tutor)
        worded = 0
        for row in eval_questions(12):
            key = Key("t", "c", row["question"][:40])  # a fresh conversation per question, for both
            quoted = plain.respond(key, row["question"])
            reply = await respond(tutoring, row["question"], key)
            if quoted.kind != "answer":
                assert reply.text == quoted.text, "only full answers are worded"
                continue
            body = server.requests[-1].body
            expected = {n for n, _, said in passages_in(body) if said}
            assert "Worded by fake-model from the slides cited" in reply.text, reply.text
            cited = {int(n) for n in CITATION.findall(reply.text)}
            assert cited and cited <= expected, (cited, expected)
            assert cited <= set(quoted.slides)
            assert [(s.slide, s.section) for s in reply.sources] == [(s.slide, s.section) for s in quoted.sources]
            worded += 1
    assert worded >= 6


async def test_unfaithful_sentences_never_reach_the_learner(tutor) -> None:
    async with FakeOpenAI(respond=unfaithful_answer) as server:
        tutoring = tutoring_on(server, tutor)
        for row in eval_questions(8):
            reply = await respond(tutoring, row["question"], Key("t", "u", row["question"][:40]))
            assert not any(claim.lower() in reply.text.lower() for claim in INVENTED), reply.text
            assert "1987" not in reply.text and "quantum" not in reply.text
            if reply.kind == "answer":
                # One sentence of three held up: too little, so the quote stands and says why.
                assert "Quoted from the slides: the language model's answer did not hold up" in reply.text


async def test_a_mostly_faithful_answer_loses_only_its_invented_sentence(tutor) -> None:
    async with FakeOpenAI(respond=mostly_faithful_answer) as server:
        reply = await respond(tutoring_on(server, tutor), "What is a transformer?")
    assert reply.kind == "answer"
    assert "1 unsupported sentence removed" in reply.text, reply.text
    assert INVENTED[0] not in reply.text and "[slide 8]" in reply.text


@pytest.mark.parametrize("broken", ["server error", "garbage", "silence", "slow"])
async def test_a_broken_model_leaves_the_quoted_answer(tutor, broken: str) -> None:
    server = FakeOpenAI(
        fail_status=500 if broken == "server error" else None,
        respond=(lambda body: "!!! ??? ... 1. 2. 3.")
        if broken == "garbage"
        else (lambda body: "")
        if broken == "silence"
        else faithful_answer,
        chunk_delay_s=0.5 if broken == "slow" else 0.0,
    )
    async with server:
        tutoring = tutoring_on(server, tutor, timeout_s=1.0)
        reply = await respond(tutoring, "What is a transformer?")
    quoted = Tutoring(tutor).respond(KEY, "What is a transformer?")
    assert reply.text.startswith(quoted.text) and reply.sources == quoted.sources
    why = {
        "server error": "the language model could not answer",
        "slow": "the language model ran out of time",
    }.get(broken, "")
    assert "_Quoted from the slides:" in reply.text and why in reply.text


async def test_a_server_that_is_down_leaves_the_quoted_answer(tutor) -> None:
    async with FakeOpenAI() as server:
        url = server.base_url
    service = GenerationService(OpenAIBackend(url, "fake-model"))
    tutoring = SynthesizingTutoring(tutor, synthesizer_for(lambda: service, tutor.embedder.encode, 10.0))
    reply = await respond(tutoring, "What is a transformer?")
    assert "_Quoted from the slides: the language model could not answer._" in reply.text


async def test_each_course_answers_through_synthesis(tutor) -> None:
    from bot.domain.courses import Courses
    from bot.domain.synthesis import SynthesizingCourseTutoring

    async with FakeOpenAI(respond=faithful_answer) as server:
        service = GenerationService(OpenAIBackend(server.base_url, "fake-model"))
        synthesizer = synthesizer_for(lambda: service, tutor.embedder.encode, 10.0)
        tutoring = SynthesizingCourseTutoring(Courses(tutor.settings, tutor), synthesizer)
        reply = await respond(tutoring, "What is a transformer?")
        follow_up = await asyncio.to_thread(tutoring.follow_up_on, KEY, 8, "give me an example")
    assert "Worded by fake-model" in reply.text and "[slide 8]" in reply.text
    assert follow_up.kind == "answer" and "[slide 8]" in follow_up.text


async def test_synthesis_runs_on_the_home_loop_through_the_same_queue(tutor) -> None:
    async with FakeOpenAI(respond=faithful_answer) as server:
        service = GenerationService(OpenAIBackend(server.base_url, "fake-model"))
        service.home_loop = asyncio.get_running_loop()
        tutoring = SynthesizingTutoring(tutor, synthesizer_for(lambda: service, tutor.embedder.encode, 10.0))
        reply = await respond(tutoring, "What is a transformer?")
        assert "Worded by fake-model" in reply.text
        with pytest.raises(RuntimeError, match="off the event loop"):
            service.generate_from_thread(tutoring.synthesizer.request("x", []))


def test_check_rejects_invented_numbers_negations_and_foreign_words(tutor) -> None:
    reply = Tutoring(tutor).respond(KEY, "What is a transformer?")
    passages = passages_for(tutor, reply)
    assert passages and all(p.slide in reply.slides for p in passages)
    synthesizer = Synthesizer(lambda request: None, tutor.embedder.encode)  # type: ignore[arg-type,return-value]
    slide, sentence = next((p.slide, u.text) for p in passages for u in p.units() if " is " in u.text)
    checked = synthesizer.check(
        f"{sentence} [slide {slide}]. "
        "The transformer was introduced in 1962 by IBM [slide 8]. "
        f"{sentence.replace(' is ', ' is not ', 1)} [slide 8]. "
        "Bananas ripen faster near apples in a paper bag [slide 8].",
        passages,
    )
    assert [c.supported for c in checked] == [True, False, False, False], checked
    assert checked[0].slide == slide


async def test_generate_from_thread_limits_the_whole_call(tutor) -> None:
    async with FakeOpenAI(chunk_delay_s=0.5) as server:
        service = GenerationService(OpenAIBackend(server.base_url, "m"))
        request = Synthesizer(lambda r: None, tutor.embedder.encode).request("q", [])  # type: ignore[arg-type,return-value]
        with pytest.raises(GenerationTimeout):
            await asyncio.to_thread(service.generate_from_thread, request, timeout_s=0.3)
