"""/generate and /predict end to end: the real bot on the loopback Discord, a tiny random model
(built once per module) behind the real generation service, the real tutor for course questions;
and the command line with the real SmolLM2."""

from __future__ import annotations

import json
import re
import time

import pytest

from bot.domain.generation import KINDS, GenerationService, LocalBackend
from tests.conftest import run_cli
from tests.e2e.conftest import running_bot
from tests.e2e.fake_discord import EPHEMERAL, FakeDiscordError
from tests.test_generation import tiny_model_dir  # noqa: F401 - the colleague's fixture, built once per module

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FOOTER = re.compile(r"— tiny-llama\w* · (\d+) tokens? · [\d.]+ tok/s · generated text, not course material$")


@pytest.fixture
def services(services_factory, tmp_path, request):
    model = request.getfixturevalue("tiny_model_dir")
    # A random model writes noise: writing it again (GENERATION_RETRIES) would only multiply it.
    return services_factory(tmp_path, generation_model=str(model), generation_cooldown_s=0, generation_retries=0)


@pytest.fixture
def paced(monkeypatch):
    """A slower model: the tiny one writes hundreds of tokens a second on a fast machine, and the
    streaming tests need generations that last seconds. The pause is in the model's own thread,
    between tokens, so stopping and queueing behave as with a real model."""
    generate_blocking = LocalBackend.generate_blocking

    def slow(self, request, on_text, **options):
        def paced_text(text: str) -> None:
            time.sleep(0.03)
            on_text(text)

        return generate_blocking(self, request, paced_text, **options)

    monkeypatch.setattr(LocalBackend, "generate_blocking", slow)


def edits(fake, ix) -> list:
    """The bot's edits of the interaction's original response, in order."""
    return [r for r in fake.requests if r.method == "PATCH" and r.path.endswith(f"/{ix.token}/messages/@original")]


async def original(fake, ix, predicate) -> dict:
    """The interaction's original response once ``predicate(content)`` holds (generous bound: a
    shared CI machine can be slow)."""
    await ix.wait_response()
    return await fake.wait_for_bot_message(
        lambda m: m["id"] == str(ix.original_message_id) and predicate(m["content"]), timeout=60
    )


def stop_button(message: dict) -> str:
    (button,) = [c for row in message["components"] for c in row["components"]]
    assert button["label"] == "Stop"
    return button["custom_id"]


def pings_nobody(allowed: dict) -> bool:
    return (
        allowed["parse"] == []
        and not allowed.get("users")
        and not allowed.get("roles")
        and not allowed.get("replied_user")
    )


def assert_no_pings(fake) -> None:
    bodies = [r.json for r in fake.requests if isinstance(r.json, dict)]
    bodies += [b["data"] for b in bodies if isinstance(b.get("data"), dict)]
    sent = [b for b in bodies if "content" in b]
    assert sent and all(pings_nobody(b["allowed_mentions"]) for b in sent), sent


async def test_generation_streams_into_the_reply_at_most_once_a_second(fake_discord, services, paced):
    fake = fake_discord
    async with running_bot(fake, services):
        ix = await fake.invoke_command(
            "generate", {"kind": "story", "topic": "@everyone a robot who paints", "length": 150, "temperature": 1.0}
        )
        assert await ix.wait_response() == 5, "deferred at once"
        final = await original(fake, ix, FOOTER.search)
    patches = edits(fake, ix)
    assert len(patches) >= 3, "streamed: several edits before the final one"
    gaps = [b.time - a.time for a, b in zip(patches, patches[1:], strict=False)]
    assert min(gaps) >= 0.9, f"edited more than once a second: {gaps}"
    live, last = patches[:-1], patches[-1]
    assert all("writing…" in p.json["content"] and p.json["components"] for p in live), "Stop while it writes"
    assert "@everyone a robot who paints" in final["content"].splitlines()[0]
    assert 0 < int(FOOTER.search(final["content"])[1]) <= 150, "may end early, at a sentence end"
    assert last.json["components"] == [] and final["components"] == [], "the Stop button goes at the end"
    assert len(final["content"]) <= 2000
    assert_no_pings(fake)
    assert not fake.violations


async def test_stop_button_works_for_the_requester_only(fake_discord, services, paced):
    fake = fake_discord
    async with running_bot(fake, services):
        ix = await fake.invoke_command("generate", {"kind": "poem", "topic": "the sea", "length": 400})
        live = await original(fake, ix, lambda c: "writing…" in c)
        custom_id = stop_button(live)
        assert custom_id == f"generate:stop:{ix.id}", "unique per generation"

        other = await fake.click_button(int(live["id"]), custom_id, user=fake.teacher)
        assert await other.wait_response() == 4
        assert other.callback_data["flags"] & EPHEMERAL
        assert other.callback_data["content"] == "Only alice can stop this."

        mine = await fake.click_button(int(live["id"]), custom_id, user=fake.user)
        assert await mine.wait_response() == 6, "acknowledged; the reply itself says it stopped"
        final = await original(fake, ix, lambda c: "(stopped)" in c)
    tokens = int(FOOTER.search(final["content"])[1])
    assert 0 < tokens < 400 and final["components"] == []
    assert_no_pings(fake)


async def test_generation_asked_for_in_words_streams_into_a_reply(fake_discord, services, paced):
    fake = fake_discord
    async with running_bot(fake, services):
        sent = await fake.send_message(fake.general_id, "write a poem about the sea", mentions_bot=True)
        final = await fake.wait_for_bot_message(lambda m: FOOTER.search(m["content"]), timeout=60)
    assert final["message_reference"]["message_id"] == sent["id"], "a reply to the request"
    assert final["content"].startswith("✍️ **Poem** · the sea")
    assert final["components"] == [], "the Stop button goes at the end"
    message_edits = [r for r in fake.requests if r.method == "PATCH" and r.path.endswith(f"/messages/{final['id']}")]
    assert message_edits and any(p.json.get("components") for p in message_edits[:-1]), "Stop while it writes"
    assert_no_pings(fake)
    assert not fake.violations


async def test_time_limit_keeps_what_was_written(fake_discord, services, paced):
    fake = fake_discord
    async with running_bot(fake, services, generation_timeout_s=0.5):
        ix = await fake.invoke_command("generate", {"kind": "story", "topic": "a long night", "length": 400})
        final = await original(fake, ix, lambda c: "time limit" in c)
    assert "(stopped at the time limit of 0.5 s)" in final["content"]
    assert 0 < int(FOOTER.search(final["content"])[1]) < 400 and final["components"] == []


async def test_requests_wait_in_line_can_leave_it_and_a_full_queue_says_so(fake_discord, services, paced):
    fake = fake_discord
    async with running_bot(fake, services, generation_queue_size=1):
        first = await fake.invoke_command("generate", {"kind": "story", "topic": "a long journey", "length": 400})
        first_live = await original(fake, first, lambda c: "writing…" in c)

        second = await fake.invoke_command("generate", {"kind": "poem", "topic": "waiting"}, user=fake.teacher)
        assert await second.wait_response() == 5
        waiting = await original(fake, second, lambda c: "Waiting in line: position 1" in c)
        assert stop_button(waiting) == f"generate:stop:{second.id}"

        third = await fake.invoke_command("generate", {"kind": "marketing", "topic": "umbrellas"})
        assert await third.wait_response() == 4, "answered at once, not deferred"
        assert third.callback_data["flags"] & EPHEMERAL
        assert "busy (1 request waiting)" in third.callback_data["content"]

        # The teacher gives up waiting: their place in line frees at once.
        await fake.click_button(int(waiting["id"]), stop_button(waiting), user=fake.teacher)
        left = await original(fake, second, lambda c: "(stopped)" in c)
        assert left["components"] == [] and "tok/s" not in left["content"]
        fourth = await fake.invoke_command("generate", {"kind": "poem", "topic": "patience", "length": 20})
        await fourth.wait_response()
        await original(fake, fourth, lambda c: "Waiting in line: position 1" in c)

        await fake.click_button(int(first_live["id"]), stop_button(first_live), user=fake.user)
        await original(fake, first, lambda c: "(stopped)" in c)
        final = await original(fake, fourth, FOOTER.search)
        generation = services.loaded_generation
        assert generation.waiting == generation.running == 0
    assert services.loaded_generation is None, "closed with the bot"
    assert 0 < int(FOOTER.search(final["content"])[1]) <= 20
    contents = [p.json["content"] for p in edits(fake, fourth)]
    assert "Waiting in line: position 1" in contents[0] and FOOTER.search(contents[-1]), "waited, then ran"


async def test_course_question_is_answered_from_the_slides_not_generated(fake_discord, services):
    fake = fake_discord
    async with running_bot(fake, services):
        ix = await fake.invoke_command("generate", {"kind": "story", "topic": "what is an embedding?"})
        assert await ix.wait_response() == 5
        answer = await original(fake, ix, bool)
        declined = await fake.invoke_command("generate", {"kind": "poem", "topic": "how long should I boil an egg?"})
        refusal = await original(fake, declined, bool)
    assert answer["content"].startswith(
        "That's a question about the course, so here is what the slides say (generated text could be wrong):"
    )
    assert "Slide 13" in answer["content"]
    assert answer["components"][0]["components"][0]["custom_id"] == "slide:show:13"
    assert "/ask" in refusal["content"] and "Slide" not in refusal["content"]
    assert services.loaded_generation is None, "the generator was never needed"
    assert_no_pings(fake)


async def test_example_uses_the_named_or_current_slide(fake_discord, services, monkeypatch):
    seen = []
    events = GenerationService.events

    def spy(self, request, cancel=None):
        seen.append(request)
        return events(self, request, cancel)

    monkeypatch.setattr(GenerationService, "events", spy)
    fake = fake_discord
    async with running_bot(fake, services):
        named = await fake.invoke_command("generate", {"kind": "example", "topic": "slide 13", "length": 20})
        named_final = await original(fake, named, FOOTER.search)
        nowhere = await fake.invoke_command("generate", {"kind": "example", "topic": "cooking"})
        assert await nowhere.wait_response() == 4 and nowhere.callback_data["flags"] & EPHEMERAL
        assert "name one in the topic" in nowhere.callback_data["content"]

        services.learners.set(f"guild:{fake.guild_id}", fake.user["id"], 18)
        current = await fake.invoke_command("generate", {"kind": "example", "topic": "cooking", "length": 20})
        current_final = await original(fake, current, FOOTER.search)
    assert named_final["content"].startswith("✍️ **Example** for slide 13 (Tokenization")
    assert current_final["content"].startswith("✍️ **Example** for slide 18") and "· cooking" in current_final["content"]
    prompts = [request.messages[-1].content for request in seen]
    assert "Tokenization" in prompts[0] and "about" not in prompts[0].split('"""')[-1]
    assert "cooking" in prompts[1] and "Tokenization" not in prompts[1]


async def test_predict_attaches_a_chart_and_a_table(fake_discord, services):
    fake = fake_discord
    async with running_bot(fake, services):
        ix = await fake.invoke_command("predict", {"text": "Once upon a time"})
        assert await ix.wait_response() == 5
        message = await original(fake, ix, bool)
        request = await fake.wait_for_request(method="POST", path="/webhooks/*", timeout=60)
    (chart,) = request.files
    assert chart.filename == "next-token.png" and chart.data.startswith(PNG_SIGNATURE)
    assert fake.file(message["attachments"][0]).startswith(PNG_SIGNATURE)
    table = message["content"].split("```")[1].strip().splitlines()
    assert table[0].split() == ["token", "T=0.2", "T=1", "T=1.5"]
    assert len(table) == 1 + 8 + 1 and table[-1].startswith("(all others)")
    at_one = [float(row.split()[-2].rstrip("%")) for row in table[1:-1]]
    assert at_one == sorted(at_one, reverse=True), "most likely first"
    assert pings_nobody(request.json["allowed_mentions"])


async def test_invalid_options_are_refused_as_discord_would(fake_discord, services):
    fake = fake_discord
    async with running_bot(fake, services):
        schema = next(c for c in fake.commands[None] if c["name"] == "generate")
        kinds = [choice["value"] for choice in schema["options"][0]["choices"]]
        assert kinds == list(KINDS)
        for options in (
            {"kind": "story", "topic": "x", "temperature": 2.5},
            {"kind": "story", "topic": "x", "temperature": -0.1},
            {"kind": "essay", "topic": "x"},
            {"kind": "story", "topic": "x", "length": 5},
            {"kind": "story", "topic": ""},
            {"kind": "story"},
        ):
            with pytest.raises(FakeDiscordError):
                await fake.invoke_command("generate", options)
        with pytest.raises(FakeDiscordError):
            await fake.invoke_command("predict", {"text": ""})
    assert fake.interactions == []


async def test_generation_cooldown_says_when_to_try_again(fake_discord, services):
    fake = fake_discord
    async with running_bot(fake, services, generation_cooldown_s=60):
        first = await fake.invoke_command("generate", {"kind": "story", "topic": "what is attention?"})
        assert await first.wait_response() == 5
        await original(fake, first, bool)
        again = await fake.invoke_command("generate", {"kind": "story", "topic": "a cat"})
        assert await again.wait_response() == 4
        assert again.callback_data["flags"] & EPHEMERAL
        assert re.search(r"try again in (59|60) s", again.callback_data["content"])
        other = await fake.invoke_command("generate", {"kind": "story", "topic": "what is a token?"}, user=fake.teacher)
        assert await other.wait_response() == 5, "per user"
        await original(fake, other, bool)


def test_cli_kinds_match_the_domain():
    from bot.cli import GENERATE_KINDS

    assert GENERATE_KINDS == KINDS


@pytest.fixture(scope="module")
def smol_data_dir(request, tmp_path_factory):
    """A data folder whose models/ is pytest's cache folder for generation models, so the SmolLM2
    conversion happens once per checkout and is shared with tests/test_generation.py."""
    data = tmp_path_factory.mktemp("cli-data")
    cache = getattr(request.config, "cache", None)
    models = cache.mkdir("generation-models") if cache is not None else tmp_path_factory.mktemp("models")
    (data / "models").symlink_to(models, target_is_directory=True)
    return data


def test_cli_generate_is_repeatable_with_a_seed_and_predict_ranks_next_tokens(smol_data_dir):
    args = ("generate", "a robot learning to paint", "--json", "--seed", "1", "--max-new-tokens", "12")
    first = run_cli(*args, data_dir=smol_data_dir)
    assert first.returncode == 0, first.stderr
    again = run_cli(*args, data_dir=smol_data_dir)
    assert again.returncode == 0, again.stderr
    one, two = json.loads(first.stdout), json.loads(again.stdout)
    assert {"text", "tokens", "seconds", "tokens_per_second", "model"} <= one.keys()
    assert one["text"] == two["text"] and one["text"].strip()
    assert one["tokens"] == 12 and one["model"] == "SmolLM2-135M-Instruct" and one["tokens_per_second"] > 0

    predicted = run_cli("predict", "The capital of France is", "--json", "--top", "5", data_dir=smol_data_dir)
    assert predicted.returncode == 0, predicted.stderr
    rows = json.loads(predicted.stdout)["next"]
    assert [set(row) for row in rows] == [{"token", "probability"}] * 5
    assert rows[0]["token"] == "·Paris"
    assert [row["probability"] for row in rows] == sorted((row["probability"] for row in rows), reverse=True)

    empty = run_cli("generate", "   ", data_dir=smol_data_dir)
    assert empty.returncode == 2 and "prompt is empty" in empty.stderr


async def test_generation_failures_are_one_clear_line(fake_discord, services_factory, tmp_path):
    """Server down (/generate), model missing (/predict and /generate): one private line each,
    never the generic apology, and the placeholder goes."""
    fake = fake_discord
    down = services_factory(
        tmp_path, generation_backend="openai", openai_base_url="http://127.0.0.1:9/v1", generation_cooldown_s=0
    )
    async with running_bot(fake, down):
        ix = await fake.invoke_command("generate", {"kind": "poem", "topic": "the sea"})
        assert await ix.wait_response() == 5
        said = await fake.wait_for_request(
            lambda r: "not answering right now" in str(r.json), path="/webhooks/*", timeout=60
        )
    assert said.json["flags"] & EPHEMERAL and "\n" not in said.json["content"].strip()
    assert "127.0.0.1:9" not in said.json["content"], "no server address for learners"

    missing = services_factory(tmp_path, generation_model="no-such-org/no-such-model-xyz", generation_cooldown_s=0)
    async with running_bot(fake, missing):
        for command, options in (("predict", {"text": "Once upon a"}), ("generate", {"kind": "story", "topic": "x"})):
            start = len(fake.requests)
            ix = await fake.invoke_command(command, options)
            assert await ix.wait_response() == 5
            said = await fake.wait_for_request(
                lambda r: "model is not available" in str(r.json), path="/webhooks/*", start=start, timeout=60
            )
            assert said.json["flags"] & EPHEMERAL and "went wrong" not in said.json["content"]


# ------------------------------------------------------------------ Discord's 15-minute interaction tokens


def channel_posts(fake, channel_id: int) -> list:
    """The bot's normal (non-interaction) messages posted in a channel."""
    return [r for r in fake.requests if r.method == "POST" and r.path == f"/channels/{channel_id}/messages"]


async def test_a_generation_that_outlives_its_token_carries_on_in_a_channel_message(
    fake_discord, services, paced, monkeypatch
):
    from bot import plumbing
    from tests.e2e.fake_discord import INTERACTION_TOKEN_LIFE

    fake = fake_discord
    monkeypatch.setattr(plumbing, "utcnow", fake.clock.utcnow)  # the bot's clock moves with the fake's
    async with running_bot(fake, services):
        ix = await fake.invoke_command("generate", {"kind": "story", "topic": "a lighthouse keeper", "length": 400})
        await original(fake, ix, lambda c: "writing…" in c)
        fake.clock.advance(INTERACTION_TOKEN_LIFE - plumbing.TOKEN_MARGIN_S + 1)  # 14 minutes later
        post = await fake.wait_for_request(
            lambda r: r.method == "POST" and r.path == f"/channels/{fake.general_id}/messages", timeout=30
        )
        await fake.wait_for_bot_message(lambda m: "carries on in" in m["content"], timeout=30)
        fake.clock.advance(120)  # the token has now expired: the bot must not use it again
        final = await fake.wait_for_bot_message(
            lambda m: FOOTER.search(m["content"]) and "webhook_id" not in m, timeout=60
        )
    assert "writing…" in post.json["content"] and post.json["components"], "it moved with its Stop button"
    pointer = fake.messages[ix.original_message_id]
    assert f"/{fake.general_id}/{final['id']}" in pointer["content"], "the original points to the new message"
    assert pointer["components"] == []
    assert final["content"].startswith("✍️ **Story** · a lighthouse keeper") and final["components"] == []
    assert [r for r in fake.requests if ix.token in r.path and r.status == 401] == [], "nothing on an expired token"
    assert_no_pings(fake)


async def test_a_reply_waiting_in_line_moves_before_its_token_expires(fake_discord, services, paced, monkeypatch):
    """The wait itself outlives the token: the bot wakes for the deadline, not only for progress."""
    from bot import plumbing
    from tests.e2e.fake_discord import INTERACTION_TOKEN_LIFE

    fake = fake_discord
    # Tokens "expire" 3 s after their interaction here (the margin leaves 3 s of life); the
    # extension copies the margin when it loads, so it is set before the bot starts.
    monkeypatch.setattr(plumbing, "TOKEN_MARGIN_S", INTERACTION_TOKEN_LIFE - 3)

    def moved(*words: str):
        return lambda m: "webhook_id" not in m and all(w in m["content"] for w in words)

    async with running_bot(fake, services, generation_max_new_tokens=400):
        first = await fake.invoke_command("generate", {"kind": "story", "topic": "a long road", "length": 400})
        first_moved = await fake.wait_for_bot_message(moved("✍️ **Story** · a long road"), timeout=60)
        second = await fake.invoke_command("generate", {"kind": "poem", "topic": "patience", "length": 20})
        second_moved = await fake.wait_for_bot_message(moved("✍️ **Poem** · patience"), timeout=60)
        await fake.click_button(int(first_moved["id"]), f"generate:stop:{first.id}", user=fake.user)
        final = await fake.wait_for_bot_message(
            lambda m: m["id"] == second_moved["id"] and FOOTER.search(m["content"]), timeout=60
        )
    assert "carries on in" in fake.messages[second.original_message_id]["content"]
    assert final["content"].startswith("✍️ **Poem** · patience")
    [post] = [r for r in channel_posts(fake, fake.general_id) if "patience" in r.json["content"]]
    assert "Waiting in line" in post.json["content"], "it moved while waiting, before any progress"


async def test_a_long_line_is_refused_up_front_where_the_reply_could_not_move(fake_discord, services, paced):
    fake = fake_discord
    async with running_bot(fake, services, generation_timeout_s=500, generation_max_new_tokens=400):
        first = await fake.invoke_command("generate", {"kind": "story", "topic": "a long road", "length": 400})
        live = await original(fake, first, lambda c: "writing…" in c)
        # In a channel where the bot may not post, a second turn (up to 2 x 500 s) could outlast the token.
        refused = await fake.invoke_command(
            "generate", {"kind": "poem", "topic": "waiting"}, channel_id=fake.readonly_id, user=fake.teacher
        )
        assert await refused.wait_response() == 4
        assert refused.callback_data["flags"] & EPHEMERAL
        assert "long line" in refused.callback_data["content"]
        # Where it may post, the same request waits in line (its reply can move if it must).
        queued = await fake.invoke_command("generate", {"kind": "poem", "topic": "waiting", "length": 20})
        await original(fake, queued, lambda c: "Waiting in line" in c)
        await fake.click_button(int(live["id"]), stop_button(live), user=fake.user)
        await original(fake, queued, FOOTER.search)
    assert channel_posts(fake, fake.readonly_id) == []
