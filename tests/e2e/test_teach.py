"""/tokenize, /similar and /pipeline end to end: the real bot, deck and models, a Discord on
loopback; and the ``tokenize`` / ``similar`` command lines."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.domain.tokenizers import TOKENIZER_NAMES, Tokenizers
from tests.e2e.conftest import running_bot
from tests.e2e.fake_discord import FakeDiscordError

ROOT = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEXT = "Tokenization isn't magic 🙂"


@pytest.fixture(scope="module")
def tokenizers(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Tokenizers:
    """Shared by this module's bots; SmolLM2's converted tokenizer is cached in pytest's cache."""
    cache = getattr(request.config, "cache", None)
    folder = Path(cache.mkdir("slide-tutor-tokenizers")) if cache is not None else tmp_path_factory.mktemp("tok")
    return Tokenizers(cache_dir=folder)


@pytest.fixture
def services(tutor, tokenizers, tmp_path):
    from bot.domain.learners import LearnerStore
    from bot.domain.services import Services

    def no_generator():  # tests that want step 4 set their own; the rest never load a model
        from bot.domain.generation import ModelUnavailable

        raise ModelUnavailable("no generation model in this test")

    # No cooldown: these tests call the same command several times in a row as one learner.
    settings = tutor.settings.model_copy(update={"question_cooldown_s": 0})
    built = Services(settings, tutor, LearnerStore(tmp_path / "state.sqlite3"), tokenizers)
    built.generation = no_generator
    return built


def ansi_blocks(content: str) -> list[str]:
    return [part.split("\n", 1)[1] for part in content.split("```ansi")[1:]]


# ---------------------------------------------------------------------------- /tokenize


@pytest.mark.parametrize("name", TOKENIZER_NAMES)
async def test_tokenize_shows_coloured_tokens_and_ids(fake_discord, services, tokenizers, name: str) -> None:
    fake = fake_discord
    expected = tokenizers.tokenize(TEXT, name)
    async with running_bot(fake, services):
        interaction = await fake.invoke_command("tokenize", {"text": TEXT, "tokenizer": name})
        assert await interaction.wait_response() in (4, 5), "answered at once, or deferred while a tokenizer loads"
        message = await fake.wait_for_bot_message()
    content = message["content"]
    [block] = ansi_blocks(content)
    assert "\x1b[31m" in block and "\x1b[32m" in block, "tokens alternate colours"
    assert expected.tokens[1] in block
    assert ", ".join(map(str, expected.ids)) in content
    assert f"{expected.count} tokens" in content
    assert fake.violations == []


async def test_tokenize_defers_only_while_a_tokenizer_loads(fake_discord, services, tokenizers) -> None:
    services.tokenizers = Tokenizers(cache_dir=tokenizers._cache_dir)  # nothing loaded yet
    fake = fake_discord
    async with running_bot(fake, services):
        first = await fake.invoke_command("tokenize", {"text": "hello", "tokenizer": "smollm2"})
        assert await first.wait_response() == 5, "the first use loads SmolLM2's tokenizer: deferred"
        message = await fake.wait_for_bot_message()
        second = await fake.invoke_command("tokenize", {"text": "hello", "tokenizer": "smollm2"})
        assert await second.wait_response() == 4, "loaded: answered at once"
    assert "```ansi" in message["content"]
    assert second.callback_data["allowed_mentions"]["parse"] == []


async def test_tokenize_all_compares_the_four_side_by_side(fake_discord, services, tokenizers) -> None:
    fake = fake_discord
    async with running_bot(fake, services):
        await fake.invoke_command("tokenize", {"text": TEXT})  # all four is the default
        message = await fake.wait_for_bot_message()
    assert len(ansi_blocks(message["content"])) == 4
    [embed] = message["embeds"]
    results = tokenizers.tokenize_all(TEXT)
    for tok in results:
        row = next(line.split() for line in embed["description"].splitlines() if line.startswith(tok.tokenizer))
        assert row[1] == str(tok.count), "the table compares the counts"
        field = next(f for f in embed["fields"] if f["name"] == f"ids · {tok.label}")
        assert ", ".join(map(str, tok.ids)) in field["value"]
    assert "[CLS]" in message["content"], "WordPiece's markers are shown"
    assert fake.violations == []


async def test_tokenizing_asked_for_in_words_shows_the_four_tokenizers(fake_discord, services) -> None:
    fake = fake_discord
    async with running_bot(fake, services):
        await fake.send_message(fake.general_id, 'how is "Hello world" tokenized?', mentions_bot=True)
        message = await fake.wait_for_bot_message(channel_id=fake.general_id, timeout=60)
    assert message["content"].startswith("Here's how “Hello world” is cut into tokens.\n")
    assert len(ansi_blocks(message["content"])) == 4 and len(message["content"]) <= 2000
    assert message["embeds"][0]["title"] == "Same text, four tokenizers"
    assert fake.violations == []


async def test_tokenize_is_cooled_down_per_learner(fake_discord, services) -> None:
    fake = fake_discord
    async with running_bot(fake, services, question_cooldown_s=60):
        first = await fake.invoke_command("tokenize", {"text": "hello", "tokenizer": "gpt2"})
        assert await first.wait_response() in (4, 5)
        again = await fake.invoke_command("tokenize", {"text": "hello", "tokenizer": "gpt2"})
        assert await again.wait_response() == 4
    assert again.callback_data["flags"] & 64
    assert "try again in" in again.callback_data["content"]


async def test_tokenize_refuses_an_unknown_tokenizer_as_discord_would(fake_discord, services) -> None:
    fake = fake_discord
    async with running_bot(fake, services):
        with pytest.raises(FakeDiscordError):
            await fake.invoke_command("tokenize", {"text": "hello", "tokenizer": "bpe"})
        with pytest.raises(FakeDiscordError):
            await fake.invoke_command("tokenize", {"text": ""})
        schema = next(c for c in fake.commands[None] if c["name"] == "tokenize")
        choices = next(o for o in schema["options"] if o["name"] == "tokenizer")["choices"]
        assert [c["value"] for c in choices] == ["all", *TOKENIZER_NAMES]


async def test_long_text_stays_within_discord_limits(fake_discord, services) -> None:
    fake = fake_discord
    text = ("Embeddings put similar meanings close together; naïve café 😀\n" * 40)[:1900]
    async with running_bot(fake, services):
        messages, last = [], 0
        for name, options in (
            ("tokenize", {"text": text}),
            ("tokenize", {"text": text, "tokenizer": "gpt2"}),
            ("tokenize", {"text": text, "tokenizer": "wordpiece"}),
            ("pipeline", {"text": text}),
            ("similar", {"text": text, "other": text[::-1], "picture": True}),
        ):
            await fake.invoke_command(name, options)
            messages.append(await fake.wait_for_bot_message(after=last))
            last = messages[-1]["id"]
    assert fake.violations == []
    assert all(len(m["content"]) <= 2000 for m in messages)
    assert all("more tokens" in m["content"] for m in messages[:3]), "cut with a count of what is left"
    assert "first 256 word pieces" in messages[3]["embeds"][0]["fields"][1]["value"]


# ---------------------------------------------------------------------------- /similar


async def test_similar_compares_two_texts(fake_discord, services) -> None:
    fake = fake_discord
    async with running_bot(fake, services):
        interaction = await fake.invoke_command(
            "similar", {"text": "The cat sat on the mat.", "other": "A cat was sitting on the mat."}
        )
        assert await interaction.wait_response() == 5, "deferred"
        message = await fake.wait_for_bot_message()
    [embed] = message["embeds"]
    assert "nearly the same meaning" in embed["title"]
    assert "cosine" in embed["description"].lower()
    assert fake.violations == []


async def test_similar_with_one_text_lists_the_nearest_slides(fake_discord, services) -> None:
    fake = fake_discord
    async with running_bot(fake, services):
        await fake.invoke_command("similar", {"text": "how does temperature change sampling"})
        message = await fake.wait_for_bot_message()
    [embed] = message["embeds"]
    assert embed["description"].startswith("**1.** Slide 10 · Sampling, Temperature and Decoding")
    assert message["attachments"] == []


async def test_similar_with_a_picture_attaches_the_map(fake_discord, services) -> None:
    fake = fake_discord
    async with running_bot(fake, services):
        await fake.invoke_command("similar", {"text": "@everyone my puppy", "other": "a dog", "picture": True})
        message = await fake.wait_for_bot_message()
        request = await fake.wait_for_request(lambda r: bool(r.files), path="/webhooks/*")
    [recorded] = request.files
    assert recorded.filename == "latent-space.png"
    assert recorded.data.startswith(PNG_SIGNATURE)
    assert message["embeds"][0]["image"]["url"] == "attachment://latent-space.png"
    assert fake.file(message["attachments"][0]) == recorded.data
    assert request.json["allowed_mentions"]["parse"] == []
    assert fake.violations == []


async def test_similar_with_blank_text_says_what_is_wrong(fake_discord, services) -> None:
    fake = fake_discord
    async with running_bot(fake, services):
        interaction = await fake.invoke_command("similar", {"text": "dog", "other": "   "})
        assert await interaction.wait_response() == 4
    assert interaction.callback_data["flags"] & 64, "only the learner sees it"
    assert "second text is empty" in interaction.callback_data["content"]


# ---------------------------------------------------------------------------- /pipeline


class FakeGeneration:
    """What /pipeline uses of the generation service: ``predict_next(text, top_k)``, awaited."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    async def predict_next(self, text: str, top_k: int = 10) -> list[tuple[str, float]]:
        self.calls.append((text, top_k))
        return [("·mat", 0.52), ("·floor", 0.11), ("·couch", 0.06), ("·bed", 0.04), ("·rug", 0.02)][:top_k]


async def test_pipeline_shows_the_four_steps(fake_discord, services) -> None:
    generation = FakeGeneration()
    services.generation = lambda: generation  # the lazy accessor, handing out the fake
    fake = fake_discord
    async with running_bot(fake, services):
        interaction = await fake.invoke_command("pipeline", {"text": "The cat sat on the"})
        assert await interaction.wait_response() == 5, "deferred"
        message = await fake.wait_for_bot_message()
    [embed] = message["embeds"]
    names = [field["name"] for field in embed["fields"]]
    assert names == ["1. Input", "2. Tokens", "3. Embedding", "4. Generation"]
    tokens, embedding, generation_step = (field["value"] for field in embed["fields"][1:])
    assert "[CLS]=101" in tokens
    assert "384 numbers" in embedding and "1.000" in embedding
    assert "`·mat` 52.0%" in generation_step
    assert generation.calls == [("The cat sat on the", 5)]
    assert fake.violations == []


async def test_pipeline_without_a_generator_still_teaches_three_steps(fake_discord, services) -> None:
    from bot.domain.generation import ModelUnavailable

    def load_generation():  # what a lazy accessor does when the model cannot load
        raise ModelUnavailable("the model files are missing")

    services.generation = load_generation
    fake = fake_discord
    async with running_bot(fake, services):
        await fake.invoke_command("pipeline", {"text": "hello there"})
        message = await fake.wait_for_bot_message()
    generation_step = message["embeds"][0]["fields"][3]["value"]
    assert "can't make predictions right now: the model files are missing." in generation_step


# ---------------------------------------------------------------------------- command line


def test_command_line_tokenize_and_similar_print_json(tutor, request: pytest.FixtureRequest) -> None:
    """Two processes (each loads its models): the tutor's own data folder, so nothing is re-embedded."""
    cache = getattr(request.config, "cache", None)
    if cache is not None:  # SmolLM2's converted tokenizer, so the process does not convert it again
        for cached in Path(cache.mkdir("slide-tutor-tokenizers")).glob("smollm2-*.tokenizer.json"):
            tutor.settings.models_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy(cached, tutor.settings.models_dir / cached.name)
    env = {
        **os.environ,
        "KNOWLEDGE_DIR": str(tutor.settings.knowledge_dir),
        "DATA_DIR": str(tutor.settings.data_dir),
        "LOG_LEVEL": "WARNING",
    }

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "bot", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )

    tokenized = run("tokenize", "Hello world", "--json")
    assert tokenized.returncode == 0, tokenized.stderr
    printed = json.loads(tokenized.stdout)
    assert [item["tokenizer"] for item in printed] == list(TOKENIZER_NAMES)
    gpt2 = printed[0]
    assert (gpt2["tokens"], gpt2["ids"], gpt2["count"]) == (["Hello", "·world"], [15496, 995], 2)

    similar = run("similar", "how does temperature change sampling", "--json")
    assert similar.returncode == 0, similar.stderr
    neighbours = json.loads(similar.stdout)["neighbours"]
    assert neighbours[0]["slide"] == 10
    assert set(neighbours[0]) == {"slide", "title", "section", "score"}


def test_command_line_refuses_empty_text() -> None:
    from bot.cli import main

    assert main(["tokenize", "  "]) == 2
    assert main(["similar", ""]) == 2
    assert main(["similar", "dog", " "]) == 2


# ---------------------------------------------------------------------------- learners' markup is not echoed

MASKED = "[Verify your account](https://evil.example/login) **now** <@123> @everyone"


@pytest.mark.parametrize(
    "command",
    [("similar", {"text": MASKED}), ("similar", {"text": "a cat", "other": MASKED}), ("pipeline", {"text": MASKED})],
)
async def test_similar_and_pipeline_never_echo_a_masked_link_or_markup(fake_discord, services, command) -> None:
    fake = fake_discord
    name, options = command
    async with running_bot(fake, services):
        await fake.invoke_command(name, options)
        message = await fake.wait_for_bot_message(timeout=60)
    # What renders as markdown: code spans (the pipeline's tokens, shown as they are) are inert.
    shown = re.sub(r"```.*?```|`[^`]*`", "", json.dumps(message["embeds"], ensure_ascii=False) + message["content"])
    assert "evil.example" not in shown and "](" not in shown and "**now**" not in shown
    assert "<@123>" not in shown and "@everyone" not in shown.replace("@\u200beveryone", "")
    assert "Verify your account" in shown, "the words themselves are shown"
