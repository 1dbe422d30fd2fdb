"""Generation: a tiny random model through the real local path, the real SmolLM2 (a few
tests), the openai backend against a fake server, prompts, the question guard and charts."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from pathlib import Path

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
    SamplingView,
    Started,
    atomic_directory,
    build_messages,
    build_request,
    display_token,
    ensure_local_model,
    generate_command,
    looks_like_course_question,
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
    return build_request("story", "a robot who paints", max_new_tokens=tokens, seed=seed, temperature=temperature)


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
    assert {"text", "tokens", "seconds", "tokens_per_second", "model"} <= result.keys()
    assert result["tokens"] == 10 and result["model"] == tiny.model_name
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
    for kind in KINDS:
        messages = build_messages(kind, "a lighthouse", slide_text="Embeddings map text to vectors.")
        assert [m.role for m in messages] == ["system", "user"]
        assert "creative" in messages[0].content.lower()
        assert ("Embeddings map text" in messages[1].content) == (kind == "example")
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
