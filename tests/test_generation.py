"""Generation: a tiny random model through the real local path, the real SmolLM2 (a few
tests), the openai backend against a fake server, prompts, the question guard and charts."""

from __future__ import annotations

import asyncio
import logging
import re
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from bot.domain.generation import (
    KINDS,
    BackendError,
    ChatMessage,
    Chunk,
    Finished,
    GenerationRequest,
    GenerationService,
    GenerationTimeout,
    LocalBackend,
    ModelUnavailable,
    OpenAIBackend,
    PredictionUnavailable,
    Queued,
    QueueFull,
    Retrying,
    SamplingView,
    Started,
    atomic_directory,
    build_messages,
    build_request,
    clean_text,
    display_token,
    distinct_2,
    ensure_local_model,
    generate_command,
    junk_share,
    looks_like_course_question,
    max_line_repeats,
    predict_command,
    render_prediction_png,
)
from bot.settings import DEFAULT_GENERATION_MODEL
from tests.fake_openai import FakeOpenAI

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
CORPUS = [
    "Once upon a time a small robot learned to paint the sea at night.",
    "The model predicts the next token with a softmax over the whole vocabulary.",
    "Attention lets every token look at the tokens before it, and temperature reshapes sampling.",
]


# --- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer Llama with a small byte-level BPE tokenizer and a ChatML
    template, saved like any Hugging Face model. It never emits an end token."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-llama")
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(CORPUS * 10, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    tokenizer.chat_template = CHATML
    tokenizer.save_pretrained(folder)

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=8192,
        bos_token_id=1,
        eos_token_id=None,
        pad_token_id=0,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = None  # so lengths are exact in the tests
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> LocalBackend:
    backend = LocalBackend.load(str(tiny_model_dir), tmp_path_factory.mktemp("models"), progress=False)
    yield backend
    asyncio.run(backend.aclose())


@pytest.fixture(scope="module")
def smol_models_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Converted once per checkout: pytest's cache folder survives between runs (a fresh CI
    checkout converts for real, about 20-30 s)."""
    cache = getattr(request.config, "cache", None)
    return cache.mkdir("generation-models") if cache is not None else tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def smol(smol_models_dir: Path) -> LocalBackend:
    backend = LocalBackend.load(DEFAULT_GENERATION_MODEL, smol_models_dir, progress=False)
    yield backend
    asyncio.run(backend.aclose())


def request_for(tokens: int = 12, *, seed: int | None = 1, temperature: float = 1.0) -> GenerationRequest:
    """A story request without the learner-facing checks and natural end, so lengths are exact."""
    request = build_request("story", "a robot who paints", max_new_tokens=tokens, seed=seed, temperature=temperature)
    return replace(request, kind="custom", natural_end=False)


async def collect(service: GenerationService, request: GenerationRequest, cancel=None) -> list:
    return [event async for event in service.events(request, cancel)]


# --- local backend, tiny model ----------------------------------------------------------------
async def test_stream_yields_chunks_then_stats(tiny: LocalBackend) -> None:
    events = await collect(GenerationService(tiny, max_new_tokens=50), request_for(16))
    assert isinstance(events[0], Started) and events[0].model == tiny.model_name
    assert isinstance(events[-1], Finished)
    chunks = [e.text for e in events if isinstance(e, Chunk)]
    stats = events[-1].stats
    assert len(chunks) > 1
    assert "".join(chunks) == stats.text and stats.text
    assert stats.tokens == 16 and stats.finish_reason == "length"
    assert stats.seconds > 0 and stats.tokens_per_second == pytest.approx(16 / stats.seconds)
    assert 0 < stats.time_to_first_chunk_s <= stats.seconds


async def test_same_seed_same_text_and_greedy_ignores_seed(tiny: LocalBackend) -> None:
    service = GenerationService(tiny, max_new_tokens=50)
    first = await service.generate(request_for(20, seed=7))
    again = await service.generate(request_for(20, seed=7))
    other = await service.generate(request_for(20, seed=8))
    assert first.text == again.text
    assert other.text != first.text
    greedy_a = await service.generate(request_for(20, seed=1, temperature=0))
    greedy_b = await service.generate(request_for(20, seed=2, temperature=0))
    assert greedy_a.text == greedy_b.text


@pytest.mark.parametrize("kind", ["threading", "asyncio"])
async def test_cancel_stops_early(tiny: LocalBackend, kind: str) -> None:
    service = GenerationService(tiny, max_new_tokens=4000)
    cancel = threading.Event() if kind == "threading" else asyncio.Event()
    stats = await service.generate(
        request_for(4000), cancel, on_event=lambda e: cancel.set() if isinstance(e, Chunk) else None
    )
    assert stats.finish_reason == "cancelled"
    assert 0 < stats.tokens < 200


async def test_timeout_raises_with_partial_text(tiny: LocalBackend) -> None:
    service = GenerationService(tiny, timeout_s=0.3, max_new_tokens=100_000)
    started = time.monotonic()
    with pytest.raises(GenerationTimeout) as caught:
        await service.generate(request_for(100_000))
    assert time.monotonic() - started < 5
    stats = caught.value.stats
    assert stats is not None and stats.finish_reason == "timeout" and 0 < stats.tokens < 100_000
    # The slot is free again.
    assert service.running == 0 and service.waiting == 0


async def test_output_capped_at_max_new_tokens(tiny: LocalBackend) -> None:
    stats = await GenerationService(tiny, max_new_tokens=8).generate(request_for(500))
    assert stats.tokens == 8 and stats.finish_reason == "length"


async def test_queue_positions_and_queue_full(tiny: LocalBackend) -> None:
    service = GenerationService(tiny, queue_size=1, max_new_tokens=100_000)
    stop_first = threading.Event()
    first = service.events(request_for(100_000), stop_first)
    second = service.events(request_for(5))
    assert isinstance(await anext(first), Started)
    assert await anext(second) == Queued(1)  # first in line behind the running one
    assert service.waiting == 1 and service.is_full
    with pytest.raises(QueueFull):
        await anext(service.events(request_for(5)))

    stop_first.set()
    rest_of_first = [e async for e in first]
    assert rest_of_first[-1].stats.finish_reason == "cancelled"
    rest_of_second = [e async for e in second]
    assert isinstance(rest_of_second[0], Started)
    assert rest_of_second[-1].stats.tokens == 5
    assert service.running == 0 and service.waiting == 0


async def test_closing_the_iterator_stops_generation_and_frees_the_slot(tiny: LocalBackend) -> None:
    service = GenerationService(tiny, queue_size=2, max_new_tokens=100_000)
    events = service.events(request_for(100_000))
    async for event in events:
        if isinstance(event, Chunk):
            break
    await events.aclose()
    assert service.running == 0
    started = time.monotonic()
    stats = await service.generate(request_for(4))
    assert stats.tokens == 4 and time.monotonic() - started < 5


async def test_a_waiting_request_that_gives_up_leaves_the_line(tiny: LocalBackend) -> None:
    service = GenerationService(tiny, queue_size=2, max_new_tokens=100_000)
    stop = threading.Event()
    first = service.events(request_for(100_000), stop)
    await anext(first)
    second, third = service.events(request_for(3)), service.events(request_for(3))
    assert await anext(second) == Queued(1)
    assert await anext(third) == Queued(2)
    await second.aclose()
    assert await anext(third) == Queued(1)
    stop.set()
    assert isinstance([e async for e in first][-1], Finished)
    rest_of_third = [e async for e in third]
    assert isinstance(rest_of_third[0], Started) and isinstance(rest_of_third[-1], Finished)


async def test_predictions_and_png_on_tiny_model(tiny: LocalBackend) -> None:
    service = GenerationService(tiny)
    top = await service.predict_next("Once upon a time", 5)
    probs = [p for _, p in top]
    assert len(top) == 5 and probs == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-6
    view = await service.sampling_view("Once upon a time", 5, (0.2, 1.0, 1.5))
    assert isinstance(view, SamplingView) and [p.temperature for p in view.panels] == [0.2, 1.0, 1.5]
    tops = [panel.choices[0].probability for panel in view.panels]
    assert tops[0] >= tops[1] >= tops[2]  # low temperature sharpens, high flattens
    for panel in view.panels:
        assert [c.token for c in panel.choices] == [c.token for c in view.panels[0].choices]
        assert sum(c.probability for c in panel.choices) + panel.other == pytest.approx(1, abs=1e-4)
    png = render_prediction_png(view)
    assert png.startswith(PNG_SIGNATURE) and len(png) > 5000
    single = render_prediction_png(top)
    assert single.startswith(PNG_SIGNATURE) and len(single) > 2000


def test_cli_hooks(tiny: LocalBackend, tmp_path: Path) -> None:
    service = GenerationService(tiny, max_new_tokens=10)
    result = generate_command("a robot", "poem", 50, 0.7, 3, service)
    assert {"text", "tokens", "seconds", "tokens_per_second", "model", "attempts"} <= result.keys()
    assert 0 < result["tokens"] <= 10 * result["attempts"] and result["model"] == tiny.model_name
    assert result == {**result, "text": generate_command("a robot", "poem", 50, 0.7, 3, service)["text"]}
    chart = tmp_path / "next.png"
    predicted = predict_command("Once upon", 4, png=chart, backend=tiny)
    assert [set(row) for row in predicted["next"]] == [{"token", "probability"}] * 4
    assert chart.read_bytes().startswith(PNG_SIGNATURE)
    assert len(predicted["temperatures"]) == 3


def test_chat_template_carries_the_slide_text(tiny: LocalBackend) -> None:
    messages = build_messages("example", "", slide_text="Temperature divides the logits before the softmax.")
    ids = tiny.encode(messages)["input_ids"][0].tolist()
    prompt = tiny.tokenizer.decode(ids)
    assert "<|im_start|>system" in prompt and "Temperature divides the logits" in prompt
    assert prompt.endswith("<|im_start|>assistant\n")


def test_the_chats_opening_is_read_once_and_reused_with_the_same_text(tiny: LocalBackend) -> None:
    import torch

    def greedy(request: GenerationRequest, reuse_prefix: bool) -> list[int]:
        inputs, kwargs = tiny.prepare(request, reuse_prefix=reuse_prefix)
        assert ("cache" in kwargs) == reuse_prefix
        with torch.inference_mode():
            output = tiny.model.generate(**inputs, **kwargs)
        return output[0, inputs["input_ids"].shape[-1] :].tolist()

    first = request_for(16, temperature=0)
    other = replace(first, messages=(*first.messages[:-1], ChatMessage("user", "Write a poem about tea.")))
    assert greedy(first, False) == greedy(first, True) == greedy(first, True)  # built, then reused
    assert greedy(other, False) == greedy(other, True)  # the same opening, another request
    opening = first.messages[:-1]
    ids, cache = tiny._prefixes[opening]
    assert cache.get_seq_length() == len(ids)  # generating never grows the kept cache
    # An opening too short to be worth it, or a chat of one message, reads the whole prompt.
    short = GenerationRequest((ChatMessage("system", "Hi."), ChatMessage("user", "Tell me a story.")))
    alone = GenerationRequest((ChatMessage("user", "Tell me a story."),))
    assert "cache" not in tiny.prepare(short)[1] and "cache" not in tiny.prepare(alone)[1]


# --- the real SmolLM2 ---------------------------------------------------------------------------
def test_smollm2_is_converted_once_to_safetensors(smol: LocalBackend, smol_models_dir: Path) -> None:
    folder = smol_models_dir / DEFAULT_GENERATION_MODEL
    assert (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()
    assert smol.tokenizer.chat_template  # the GGUF's template survived the conversion
    assert not list(smol_models_dir.glob(".*partial*"))
    started = time.perf_counter()
    assert ensure_local_model(DEFAULT_GENERATION_MODEL, smol_models_dir, progress=False) == folder
    assert time.perf_counter() - started < 1  # already converted: no work


async def test_smollm2_writes_an_english_story(smol: LocalBackend) -> None:
    stats = await GenerationService(smol, max_new_tokens=40).generate(
        build_request("story", "a robot learning to paint", max_new_tokens=40, seed=1, temperature=0.7)
    )
    words = re.findall(r"[A-Za-z']+", stats.text)
    assert stats.tokens > 10 and len(words) >= 10
    assert {w.lower() for w in words} & {"the", "a", "and", "of", "to", "was", "in"}
    letters = [c for c in stats.text if not c.isspace()]
    assert sum(c.isascii() for c in letters) / len(letters) > 0.9


def test_smollm2_predicts_paris(smol: LocalBackend) -> None:
    top = smol.predict_next("The capital of France is", 5)
    probs = [p for _, p in top]
    assert probs == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-6 and all(0 < p <= 1 for p in probs)
    assert top[0][0] == "·Paris"


# --- openai backend against the fake server --------------------------------------------------------
async def test_openai_streams_through_the_service() -> None:
    async with FakeOpenAI() as server:
        service = GenerationService(OpenAIBackend(server.base_url, "fake-model"), max_new_tokens=50)
        events = await collect(service, build_request("poem", "the sea", seed=5, max_new_tokens=50))
    chunks = [e.text for e in events if isinstance(e, Chunk)]
    stats = events[-1].stats
    assert chunks == list(FakeOpenAI.chunks) and stats.text == "".join(FakeOpenAI.chunks)
    assert stats.tokens == len(FakeOpenAI.chunks) and stats.finish_reason == "stop"
    body = server.requests[0].body
    assert body["stream"] is True and body["model"] == "fake-model" and body["seed"] == 5
    assert body["max_tokens"] == 50 and body["messages"][0]["role"] == "system"
    assert "Authorization" not in server.requests[0].headers


async def test_openai_caps_tokens_and_reads_plain_json_answers() -> None:
    async with FakeOpenAI() as server:
        backend = OpenAIBackend(server.base_url, "fake-model")
        capped = await GenerationService(backend, max_new_tokens=3).generate(request_for(100))
        server.force_json = True
        whole = await GenerationService(backend).generate(request_for(100))
    assert capped.text == "Once upon a" and capped.finish_reason == "length" and capped.tokens == 3
    assert whole.text == "".join(FakeOpenAI.chunks) and whole.tokens == len(FakeOpenAI.chunks)


async def test_openai_sends_the_key_and_never_logs_it(caplog: pytest.LogCaptureFixture) -> None:
    key = "sk-test-SECRET-1234567890"
    caplog.set_level(logging.DEBUG)
    async with FakeOpenAI(api_key=key) as server:
        stats = await GenerationService(OpenAIBackend(server.base_url, "m", api_key=key)).generate(request_for())
        assert server.requests[-1].headers["Authorization"] == f"Bearer {key}"
        wrong = OpenAIBackend(server.base_url, "m", api_key="sk-wrong-OTHER-SECRET")
        with pytest.raises(BackendError) as caught:
            await GenerationService(wrong).generate(request_for())
    assert stats.text
    assert "401" in str(caught.value) and "OTHER-SECRET" not in str(caught.value)
    assert key not in repr(OpenAIBackend(server.base_url, "m", api_key=key))
    assert caplog.records and key not in caplog.text and "OTHER-SECRET" not in caplog.text


async def test_openai_server_error_is_clear() -> None:
    async with FakeOpenAI(fail_status=500) as server:
        with pytest.raises(BackendError, match=r"HTTP 500: the model crashed"):
            await GenerationService(OpenAIBackend(server.base_url, "m")).generate(request_for())


async def test_openai_unreachable_server_is_clear() -> None:
    async with FakeOpenAI() as server:
        url = server.base_url
    with pytest.raises(BackendError, match="could not talk to"):
        await GenerationService(OpenAIBackend(url, "m")).generate(request_for())


async def test_openai_cancel_stops_a_slow_stream() -> None:
    async with FakeOpenAI(chunk_delay_s=0.2) as server:
        cancel = asyncio.Event()
        stats = await GenerationService(OpenAIBackend(server.base_url, "m")).generate(
            request_for(), cancel, on_event=lambda e: cancel.set() if isinstance(e, Chunk) else None
        )
    assert stats.finish_reason == "cancelled" and stats.text == "Once"


async def test_predictions_need_the_local_backend() -> None:
    with pytest.raises(PredictionUnavailable):
        await GenerationService(OpenAIBackend("http://127.0.0.1:9/v1", "m")).predict_next("Hi")


# --- prompts, guard, helpers ----------------------------------------------------------------
def test_every_kind_builds_a_system_and_user_message() -> None:
    from bot.domain.generation._prompts import WORKED_EXAMPLES

    # Brainstorm has no worked example: the model copied its ideas into the learner's topic.
    assert "brainstorm" not in WORKED_EXAMPLES and {"story", "example"} <= set(WORKED_EXAMPLES)
    for kind in KINDS:
        messages = build_messages(kind, "a lighthouse", slide_text="Vectors\nOverview: Embeddings map text to vectors.")
        # The system prompt, a worked example of the kind (a turn and its answer) where it has one,
        # the request.
        shot = ["user", "assistant"] if kind in WORKED_EXAMPLES else []
        assert [m.role for m in messages] == ["system", *shot, "user"]
        assert "creative" in messages[0].content.lower()
        assert ("Embeddings map text" in messages[-1].content) == (kind == "example")
        if kind != "example":  # the learner's topic is the last thing the model reads
            assert messages[-1].content.endswith("a lighthouse.")
        assert [m.role for m in build_messages(kind, "x", "T\nA: b c d e f.", worked_example=False)] == [
            "system",
            "user",
        ]
    with pytest.raises(ValueError):
        build_messages("essay", "x")
    with pytest.raises(ValueError):
        build_messages("example", "x")
    with pytest.raises(ValueError):
        GenerationRequest(messages=(ChatMessage("user", "hi"),), temperature=-1)


@pytest.mark.parametrize(
    "topic",
    [
        "what is an embedding",
        "What are embeddings?",
        "explain attention",
        "Explain self-attention in transformers",
        "how does temperature work?",
        "How do transformers work",
        "why does top-p sampling help?",
        "what's the difference between top-k and top-p",
        "difference between tokens and words",
        "define perplexity",
        "Can you explain what a token is?",
        "is a larger temperature more random?",
        "tell me about retrieval augmented generation",
        "When should I use RAG?",
    ],
)
def test_course_questions_are_detected(topic: str) -> None:
    assert looks_like_course_question(topic)


@pytest.mark.parametrize(
    "topic",
    [
        "a robot learning to paint",
        "what if robots could dream?",
        "Imagine a world without words?",
        "a poem about attention",
        "a coffee shop for programmers",
        "embeddings as a love story",
        "names for a bakery run by an AI",
        "what is a good name for a cat café?",
        "the temperature of the sun?",
        "a story about how attention works",
        "",
    ],
)
def test_creative_topics_pass(topic: str) -> None:
    assert not looks_like_course_question(topic)


def test_display_token() -> None:
    assert display_token(" the") == "·the"
    assert display_token("\n") == "↵"
    assert display_token("  x\n") == "··x↵"


def test_atomic_directory(tmp_path: Path) -> None:
    target = tmp_path / "model"
    with pytest.raises(RuntimeError), atomic_directory(target) as tmp:
        (tmp / "config.json").write_text("{}")
        raise RuntimeError("killed halfway")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    stale = tmp_path / ".model.partial-999999999-abcd"  # a dead process's leftovers
    stale.mkdir()
    with atomic_directory(target) as tmp:
        (tmp / "config.json").write_text("{}")
    assert (target / "config.json").is_file() and not stale.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_ensure_local_model_paths(tiny_model_dir: Path, tmp_path: Path) -> None:
    assert ensure_local_model(str(tiny_model_dir), tmp_path) == tiny_model_dir
    with pytest.raises(ModelUnavailable):
        ensure_local_model(str(tmp_path), tmp_path)  # a folder without a model
    with pytest.raises(ModelUnavailable):
        ensure_local_model("no-such-org/no-such-model-xyz", tmp_path)


async def test_a_backend_that_ignores_its_deadline_is_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.domain.generation import GenerationStream, _service

    class Stuck:
        name, model_name, max_concurrency = "stuck", "stuck", 1

        def stream(self, request, cancel, deadline=None):
            async def forever(outcome):
                yield "a"
                await asyncio.sleep(3600)
                yield "never"

            return GenerationStream(forever)

        async def aclose(self) -> None:
            pass

    monkeypatch.setattr(_service, "_GRACE_S", 0.1)
    service = GenerationService(Stuck(), timeout_s=0.2)
    with pytest.raises(GenerationTimeout) as caught:
        await service.generate(request_for())
    assert caught.value.stats.text == "a" and service.running == 0


# --- text quality, clean-up and retries (issue 15) -------------------------------------------------
def test_quality_measures() -> None:
    from bot.domain.generation import quality

    assert distinct_2("the voice of the heart the voice of the heart") == pytest.approx(5 / 9)
    assert distinct_2("Don't stop, don't stop now") == pytest.approx(3 / 4)  # words keep apostrophes
    assert distinct_2("one") == 0.0
    poem = "Embeds, the voice of the heart.\nThe voice of the heart.\n the voice of the heart\nLillitel"
    assert max_line_repeats(poem) == 2  # "Embeds, the voice..." is another line
    assert junk_share("1. 1. 1.\n1.1. 2.\nA real idea\n3.") == 0.75
    assert quality("1. 1. 1.  1.1. 2.  3.  4.").problem == "mostly numbers or punctuation"
    assert quality(poem).problem == "a line repeated"
    assert quality("a b a b a b a b a b a b").problem == "repetitive wording"
    assert quality("Rain taps on copper leaves while the town sleeps.").problem is None


def test_clean_text_drops_empty_items_and_repeats_and_ends_at_a_sentence() -> None:
    ideas = "1. Shelves that answer questions.\n2.\n3. 4.\n5. Book clubs found by meaning.\n6. Shelves that answer questions."
    assert clean_text(ideas, "brainstorm") == "1. Shelves that answer questions.\n2. Book clubs found by meaning."
    cut = "The robot painted the sea. Then it painted the sky. And then the"
    assert clean_text(cut, "story", "length") == "The robot painted the sea. Then it painted the sky."
    assert clean_text(cut, "story", "stop") == cut, "only a text cut by its budget is trimmed"
    assert clean_text("Rain on the roof\nrain on the roof\nthe puddles", "poem", "length") == "Rain on the roof"
    assert clean_text("1.\n2.", "custom") == "1.\n2.", "custom requests are left as they are"
    listed = "Morning Tea\n\n1. A cup of tea\n2. With the sun\n3) On a Sunday"
    assert clean_text(listed, "poem") == "Morning Tea\n\nA cup of tea\nWith the sun\nOn a Sunday"
    assert clean_text("Ten green bottles\n1984 was a year\nand so on", "poem").startswith("Ten green bottles\n1984")


def test_new_text_repetition_spares_the_prompt_and_punctuation() -> None:
    import torch

    from bot.domain.generation._torch_parts import NewTextRepetition

    words = torch.tensor([True, True, True, False, True])  # token 3 is punctuation
    ids = torch.tensor([[0, 1, 2, 3, 4, 2, 3, 4]])  # prompt: 0 1; new: 2 3 4 2 3 4
    scores = torch.full((1, 5), 2.0)
    out = NewTextRepetition(prompt_tokens=2, penalty=2.0, ngram=0, words=words)(ids, scores.clone())
    assert out[0].tolist() == [2.0, 2.0, 1.0, 2.0, 1.0], "only new word tokens are penalised"
    banned = NewTextRepetition(prompt_tokens=2, penalty=1.0, ngram=3)(torch.tensor([[0, 1, 2, 3, 4, 2, 3]]), scores)
    assert banned[0, 4] == -float("inf") and torch.isfinite(banned[0, :4]).all(), "2 3 -> 4 would repeat a 3-gram"


def test_a_poem_opens_with_its_title_and_marketing_with_the_product() -> None:
    from bot.domain.generation._prompts import opening

    assert build_request("poem", "the first snow of winter").opening == "The First Snow of Winter\n\n"
    assert build_request("marketing", "a coffee shop for programmers").opening == "1. A coffee shop for programmers"
    assert build_request("poem", "embeddings", open_with_topic=False).opening == ""
    assert build_request("story", "a robot").opening == ""  # kinds without an opening
    assert opening("poem", "how does attention work?") == "", "a question is no title"
    assert opening("poem", "the whole history of the universe from the big bang to now") == "", "too long"
    assert opening("poem", "**bold** <@123>") == ""


async def test_the_opening_is_shown_first_and_not_counted_as_written(tiny: LocalBackend) -> None:
    request = replace(request_for(6), opening="Robot Paint\n\n")
    events = await collect(GenerationService(tiny), request)
    chunks = [e.text for e in events if isinstance(e, Chunk)]
    stats = events[-1].stats
    assert chunks[0] == "Robot Paint\n\n" and stats.text.startswith("Robot Paint\n\n") and stats.tokens == 6
    inputs, _ = tiny.prepare(request)
    plain, _ = tiny.prepare(replace(request, opening=""))
    added = inputs["input_ids"][0, plain["input_ids"].shape[-1] :].tolist()
    assert tiny.tokenizer.decode(added) == "Robot Paint\n\n", "the model reads the opening after its chat"


def test_natural_end_stops_at_a_sentence_end_past_the_soft_limit(tiny: LocalBackend) -> None:
    import torch

    from bot.domain.generation._torch_parts import NaturalEnd

    period = tiny.tokenizer.convert_tokens_to_ids(".")
    word = tiny.tokenizer("robot")["input_ids"][-1]
    stop = NaturalEnd(tiny.tokenizer, prompt_tokens=2, max_new_tokens=10)  # soft limit: 8 new tokens
    assert not stop(torch.tensor([[1, 1] + [word] * 6 + [period]]), None).item(), "before the soft limit"
    assert not stop(torch.tensor([[1, 1] + [word] * 9]), None).item(), "not at a sentence end"
    assert stop(torch.tensor([[1, 1] + [word] * 8 + [period]]), None).item()


class Scripted:
    """A backend that writes the given texts, one per generation, and records the requests."""

    name, model_name, max_concurrency = "scripted", "scripted", 1

    def __init__(self, *texts: str) -> None:
        self.texts = list(texts)
        self.requests: list[GenerationRequest] = []

    def stream(self, request, cancel, deadline=None):
        from bot.domain.generation import GenerationStream

        self.requests.append(request)
        text = self.texts.pop(0)

        async def write(outcome):
            for piece in re.findall(r"\S+\s*|\s+", text):
                yield piece
            outcome.new_tokens, outcome.finish_reason = len(text.split()), "stop"

        return GenerationStream(write)

    async def aclose(self) -> None:
        pass


GOOD = "1. Shelves that answer questions in plain words.\n2. Book clubs matched by the meaning of what members read."


async def test_degenerate_text_is_written_again_with_another_seed() -> None:
    junk = "1. 1. 1.  1.1. 2.\n3.\n4.\n5."
    backend = Scripted(junk, GOOD)
    service = GenerationService(backend)
    events = await collect(service, build_request("brainstorm", "a library", seed=7))
    retry = [e for e in events if isinstance(e, Retrying)]
    assert retry == [Retrying("mostly numbers or punctuation", 2)]
    stats = events[-1].stats
    assert stats.text == GOOD and stats.attempts == 2 and stats.tokens == len(junk.split()) + len(GOOD.split())
    assert [r.seed for r in backend.requests] == [7, 1007]
    assert [e.text for e in events[events.index(retry[0]) + 1 :] if isinstance(e, Chunk)] != []


async def test_when_every_attempt_is_degenerate_the_best_is_shown() -> None:
    looping = "The voice of the heart.\nThe voice of the heart.\nThe voice of the heart."
    backend = Scripted("1.\n2.\n3.", looping, "1. 2.")
    stats = await GenerationService(backend, retries=2).generate(build_request("poem", "embeddings", seed=1))
    assert stats.attempts == 3 and stats.text == "The voice of the heart.", "repeats removed from the best one"


async def test_custom_requests_are_neither_checked_nor_retried() -> None:
    backend = Scripted("1. 1. 1.", GOOD)
    stats = await GenerationService(backend).generate(replace(build_request("poem", "x"), kind="custom"))
    assert stats.text == "1. 1. 1." and stats.attempts == 1 and len(backend.requests) == 1


def test_example_prompt_is_grounded_in_the_slides_own_sentences() -> None:
    from bot.domain.deck import Deck
    from bot.domain.generation import example_slide, slide_context
    from bot.domain.generation._prompts import grounding_sentences
    from bot.domain.loaders import load_deck
    from tests.conftest import KNOWLEDGE

    deck: Deck = load_deck(KNOWLEDGE).deck
    slide, topic = example_slide(deck, "slide 10 choosing a pizza topping", lambda: None)
    context = slide_context(slide)
    chosen = grounding_sentences(context, "temperature")
    assert 1 <= len(chosen) <= 4 and all(sentence in context for sentence in chosen)
    assert any("temperature" in sentence.lower() for sentence in chosen)
    request = build_request("example", topic, slide_text=context)
    asked = request.messages[-1].content
    assert slide.title in asked and "choosing a pizza topping" in asked
    assert all(sentence in asked for sentence in grounding_sentences(context, topic))
    assert len(asked) < len(context), "a few of the slide's sentences, not the whole slide"


# --- next-token predictions wait in the generation line (issue 15) --------------------------------
async def test_predictions_wait_for_a_running_generation_and_respect_a_full_line(tiny: LocalBackend) -> None:
    service = GenerationService(tiny, queue_size=1, max_new_tokens=100_000)
    stop = threading.Event()
    running = service.events(request_for(100_000), stop)
    assert isinstance(await anext(running), Started)
    prediction = asyncio.create_task(service.predict_next("Once upon a time", 3))
    await asyncio.sleep(0.2)
    assert not prediction.done() and service.waiting == 1, "in line behind the generation"
    with pytest.raises(QueueFull):
        await service.sampling_view("Once upon a time", 3)
    stop.set()
    assert isinstance([e async for e in running][-1], Finished)
    assert len(await prediction) == 3
    assert service.running == 0 and service.waiting == 0


# --- failures are one clear line (issue 15) ----------------------------------------------------------
@pytest.fixture
def slow_server():
    """The fake OpenAI server on a loop of its own thread (the CLI runs in another process)."""
    loop = asyncio.new_event_loop()
    server = FakeOpenAI(chunk_delay_s=1.0)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    yield server
    asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def run_generate(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    from tests.conftest import ROOT

    environment = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("GENERATION_", "OPENAI_"))}
    environment.update(DATA_DIR=str(tmp_path), LOG_LEVEL="WARNING", DISCORD_TOKEN="", **env)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=180
    )


def assert_one_line(result: subprocess.CompletedProcess, command: str, *words: str) -> None:
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith(f"slide-tutor {command}: ") and all(w in lines[0] for w in words), lines[0]


@pytest.mark.parametrize("as_json", [True, False])
def test_cli_generation_failures_are_one_line(tmp_path: Path, slow_server: FakeOpenAI, as_json: bool) -> None:
    flags = ("--json",) if as_json else ()
    openai = {"GENERATION_BACKEND": "openai", "OPENAI_MODEL": "m"}
    timed_out = run_generate(
        tmp_path,
        "generate",
        "a robot",
        *flags,
        OPENAI_BASE_URL=slow_server.base_url,
        GENERATION_TIMEOUT_S="0.5",
        **openai,
    )
    assert_one_line(timed_out, "generate", "time limit of 0.5 s")
    if as_json:
        assert timed_out.stdout == ""
        down = run_generate(tmp_path, "generate", "a robot", *flags, OPENAI_BASE_URL="http://127.0.0.1:9/v1", **openai)
        assert_one_line(down, "generate", "could not talk to http://127.0.0.1:9/v1")
        missing = run_generate(
            tmp_path, "generate", "a robot", *flags, GENERATION_MODEL="no-such-org/no-such-model-xyz"
        )
        assert_one_line(missing, "generate", "no-such-org/no-such-model-xyz")
        predict = run_generate(tmp_path, "predict", "Once", "--json", GENERATION_MODEL="no-such-org/no-such-model-xyz")
        assert_one_line(predict, "predict", "no-such-org/no-such-model-xyz")


async def test_terminal_generation_failures_are_one_line(slow_server: FakeOpenAI) -> None:
    from bot.domain.generation import ModelUnavailable
    from bot.terminal import TerminalSession

    def session(generation) -> TerminalSession:
        tutoring = SimpleNamespace(instead_of_generating=lambda topic, place=None: None)
        return TerminalSession(SimpleNamespace(tutoring=tutoring, generation=generation), "ada", stream=False)

    down = GenerationService(OpenAIBackend("http://127.0.0.1:9/v1", "m"))
    slow = GenerationService(OpenAIBackend(slow_server.base_url, "m"), timeout_s=0.5)

    def missing():
        raise ModelUnavailable("no model at /nowhere")

    replies = [await asyncio.to_thread(session(lambda s=s: s).reply, "/generate story a robot") for s in (down, slow)]
    replies.append(await asyncio.to_thread(session(missing).reply, "/generate poem the sea"))
    replies.append(await asyncio.to_thread(session(missing).reply, "/predict Once upon a"))
    for reply, words in zip(
        replies, ("not answering right now", "time limit of 0.5 s", "not available", "not available"), strict=True
    ):
        assert reply.kind == "error" and "\n" not in reply.text.strip() and words in reply.text, reply.text
