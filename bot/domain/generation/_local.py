"""The local backend: a transformers causal LM in this process (CUDA when present, else CPU)."""

from __future__ import annotations

import asyncio
import copy
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bot.settings import DEFAULT_GENERATION_MODEL

from ._convert import ensure_local_model
from ._types import BackendError, ChatMessage, GenerationRequest, GenerationStream, StreamOutcome

log = logging.getLogger(__name__)

_END = object()

# The model's keys and values for a chat's fixed opening (every message but the last: the system
# prompt and a kind's worked example) are kept and reused, so only the learner's own request is
# read again. The worked examples made the prompt 2.4x longer (88 -> 211 tokens for a story), and
# reading it was most of what made the new decoding slower than before (bench/generate.py).
PREFIX_CACHE_SIZE = 8  # openings kept (about 9 MB each for SmolLM2-135M)
MIN_PREFIX_TOKENS = 32  # shorter openings are read again (not worth a cache entry)


def pick_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(device: str):
    """bfloat16 on GPUs that support it (float16 otherwise); float32 on CPU, where half
    precision is slower without special hardware."""
    import torch

    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def _plain_prompt(messages: tuple[ChatMessage, ...]) -> str:
    """For models without a chat template."""
    lines = [f"{m.role.capitalize()}: {m.content}" for m in messages]
    return "\n\n".join(lines) + "\n\nAssistant:"


class LocalBackend:
    """One model, one generation at a time (a single worker thread owns the model)."""

    name = "local"
    max_concurrency = 1

    def __init__(self, model: Any, tokenizer: Any, model_name: str, device: str) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.model_name = model_name
        self.device = device
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="generation")
        self._lock = threading.Lock()  # the executor already serialises; this guards direct calls
        self._word_tokens = None  # which token ids have a letter (built on first use)
        # messages of an opening -> (its token ids, the model's cache after reading them), or None
        # where the opening is too short or its tokens are not a prefix of the whole chat's.
        self._prefixes: OrderedDict[tuple[ChatMessage, ...], tuple[Any, Any] | None] = OrderedDict()
        self.reuse_prefixes = True  # off: every prompt read whole (how the code ran before the cache)

    @classmethod
    def load(
        cls,
        name: str = DEFAULT_GENERATION_MODEL,
        models_dir: Path = Path("data/models"),
        *,
        device: str | None = None,
        progress: bool = True,
    ) -> LocalBackend:
        """Blocking (seconds): call it off the event loop. Converts the packaged model on first use."""
        path = ensure_local_model(name, Path(models_dir), progress=progress)
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # loading takes a second: a bar per load is noise
        device = device or pick_device()
        dtype = pick_dtype(device)
        started = time.perf_counter()
        # ``path`` is a local folder by now (packaged, given, or a finished download): never the hub.
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, local_files_only=True).to(device).eval()
        log.info(
            "loaded generation model %s on %s (%s) in %.1f s",
            name,
            device,
            str(dtype).removeprefix("torch."),
            time.perf_counter() - started,
        )
        return cls(model, tokenizer, name, device)

    # --- blocking parts, run on the worker thread -------------------------------------------
    def encode(self, messages: tuple[ChatMessage, ...], *, generation_prompt: bool = True) -> dict[str, Any]:
        """Token ids of the chat, formatted with the model's chat template, on the model's device."""
        if getattr(self.tokenizer, "chat_template", None):
            encoded = self.tokenizer.apply_chat_template(
                [m.as_dict() for m in messages],
                add_generation_prompt=generation_prompt,
                tokenize=True,
                return_dict=True,
                return_tensors="pt",
            )
        else:
            encoded = self.tokenizer(_plain_prompt(messages), return_tensors="pt")
        return {k: v.to(self.model.device) for k, v in encoded.items() if k in ("input_ids", "attention_mask")}

    def encode_request(self, request: GenerationRequest) -> dict[str, Any]:
        """``encode`` of the request's chat, followed by the tokens of its ``opening``."""
        import torch

        inputs = self.encode(request.messages)
        if request.opening:
            ids = self.tokenizer(request.opening, add_special_tokens=False, return_tensors="pt")["input_ids"]
            ids = ids.to(inputs["input_ids"].device)
            inputs["input_ids"] = torch.cat([inputs["input_ids"], ids], dim=-1)
            inputs["attention_mask"] = torch.cat([inputs["attention_mask"], torch.ones_like(ids)], dim=-1)
        return inputs

    def generation_kwargs(self, request: GenerationRequest) -> dict[str, Any]:
        """The ``generate()`` settings for ``request`` (without streamer and stopping criteria;
        repetition penalty and n-gram block come from ``logits_processors``)."""
        kwargs: dict[str, Any] = {
            "max_new_tokens": request.max_new_tokens,
            "do_sample": not request.greedy,
        }
        if request.min_new_tokens:
            kwargs["min_new_tokens"] = min(request.min_new_tokens, request.max_new_tokens)
        if request.greedy:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        else:
            kwargs.update(temperature=request.temperature, top_p=request.top_p)
        if self.model.generation_config.pad_token_id is None:
            pad = self.tokenizer.pad_token_id
            kwargs["pad_token_id"] = pad if pad is not None else self.tokenizer.eos_token_id
        return kwargs

    def logits_processors(self, request: GenerationRequest, prompt_tokens: int) -> list[Any]:
        """The penalties on the model's own new text (``NewTextRepetition``), when asked for."""
        if request.repetition_penalty == 1.0 and not request.no_repeat_ngram_size:
            return []
        from ._torch_parts import NewTextRepetition, word_token_mask

        if self._word_tokens is None:
            size = int(self.model.get_output_embeddings().weight.shape[0])
            self._word_tokens = word_token_mask(self.tokenizer, size).to(self.model.device)
        return [
            NewTextRepetition(
                prompt_tokens, request.repetition_penalty, request.no_repeat_ngram_size, self._word_tokens
            )
        ]

    def prefix_cache(self, messages: tuple[ChatMessage, ...], input_ids) -> Any | None:
        """A copy of the model's cache after reading every message but the last, when those
        messages' tokens begin ``input_ids`` (built on first use, then reused); else None."""
        opening = messages[:-1]
        if not opening or not getattr(self.tokenizer, "chat_template", None):
            return None
        if opening in self._prefixes:
            self._prefixes.move_to_end(opening)
            entry = self._prefixes[opening]
        else:
            import torch
            from transformers import DynamicCache

            entry = None
            ids = self.encode(opening, generation_prompt=False)["input_ids"]
            size = int(ids.shape[-1])
            if MIN_PREFIX_TOKENS <= size < input_ids.shape[-1] and torch.equal(input_ids[0, :size], ids[0]):
                with torch.inference_mode():
                    cache = self.model(
                        input_ids=ids, cache=DynamicCache(config=self.model.config), use_cache=True
                    ).cache
                entry = (ids[0], cache)
            self._prefixes[opening] = entry
            while len(self._prefixes) > PREFIX_CACHE_SIZE:
                self._prefixes.popitem(last=False)
        if entry is None:
            return None
        ids, cache = entry
        size = ids.shape[-1]
        if size >= input_ids.shape[-1] or not bool((input_ids[0, :size] == ids).all()):
            return None
        return copy.deepcopy(cache)  # generate() extends the cache it is given

    def prepare(
        self, request: GenerationRequest, *, reuse_prefix: bool = True
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The model inputs and ``generate()`` keyword arguments for ``request``: its settings,
        logits processors and (``reuse_prefix``) the cached opening of the chat. Without streamer
        and stopping criteria."""
        from transformers import LogitsProcessorList

        inputs = self.encode_request(request)
        prompt_tokens = int(inputs["input_ids"].shape[-1])
        kwargs = self.generation_kwargs(request)
        kwargs["logits_processor"] = LogitsProcessorList(self.logits_processors(request, prompt_tokens))
        if self.reuse_prefixes if reuse_prefix is None else reuse_prefix:
            cache = self.prefix_cache(request.messages, inputs["input_ids"])
            if cache is not None:
                kwargs["cache"] = cache
        return inputs, kwargs

    def generate_blocking(
        self,
        request: GenerationRequest,
        on_text,
        *,
        stop_events: tuple[threading.Event, ...] = (),
        deadline: float | None = None,
    ) -> StreamOutcome:
        """Generate, handing text pieces to ``on_text`` as they come. Same seed, same text."""
        import torch
        from transformers import StoppingCriteriaList

        from ._torch_parts import ChunkStreamer, NaturalEnd, StopWhen

        with self._lock:
            inputs, kwargs = self.prepare(request)
            streamer = ChunkStreamer(self.tokenizer, on_text)
            prompt_tokens = int(inputs["input_ids"].shape[-1])
            criteria = [StopWhen(stop_events, deadline)]
            if request.natural_end:
                criteria.append(NaturalEnd(self.tokenizer, prompt_tokens, request.max_new_tokens))
            if request.seed is not None:
                torch.manual_seed(request.seed)  # also seeds CUDA
            if request.opening:
                on_text(request.opening)
            with torch.inference_mode():
                output = self.model.generate(
                    **inputs, **kwargs, streamer=streamer, stopping_criteria=StoppingCriteriaList(criteria)
                )
            new_tokens = int(output.shape[-1] - inputs["input_ids"].shape[-1])
        if any(event.is_set() for event in stop_events):
            reason = "cancelled"
        elif deadline is not None and time.monotonic() >= deadline:
            reason = "timeout"
        elif new_tokens >= request.max_new_tokens:
            reason = "length"
        else:
            reason = "stop"
        return StreamOutcome(new_tokens=new_tokens, finish_reason=reason)

    # --- async interface --------------------------------------------------------------------
    def stream(
        self, request: GenerationRequest, cancel: threading.Event, deadline: float | None = None
    ) -> GenerationStream:
        return GenerationStream(lambda outcome: self._stream(request, cancel, deadline, outcome))

    async def _stream(
        self,
        request: GenerationRequest,
        cancel: threading.Event,
        deadline: float | None,
        outcome: StreamOutcome,
    ) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        abandoned = threading.Event()  # set when the consumer stops listening

        def on_text(text: str) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, text)

        def work() -> StreamOutcome:
            try:
                return self.generate_blocking(request, on_text, stop_events=(cancel, abandoned), deadline=deadline)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, _END)

        future = loop.run_in_executor(self._executor, work)
        try:
            while (item := await queue.get()) is not _END:
                yield item  # type: ignore[misc]
            try:
                result = await future
            except Exception as exc:
                raise BackendError(f"the local model {self.model_name} failed: {exc}") from exc
            outcome.new_tokens = result.new_tokens
            outcome.finish_reason = result.finish_reason
        finally:
            if not future.done():
                abandoned.set()
                # The worker stops after its current token; wait so the next generation never
                # overlaps this one (cancelling this wait does not cancel the worker).
                await asyncio.wait([future])

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    # --- next-token predictions -------------------------------------------------------------
    async def call(self, work, *args):
        """``work(*args)`` on the model's own thread (after any generation running there)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, lambda: work(*args))

    def predict_next(self, text: str, top_k: int = 10) -> list[tuple[str, float]]:
        from ._predict import predict_next

        with self._lock:
            return predict_next(self.model, self.tokenizer, text, top_k)

    def sampling_view(self, text: str, top_k: int = 10, temperatures=(0.2, 1.0, 1.5)):
        from ._predict import sampling_view

        with self._lock:
            return sampling_view(self.model, self.tokenizer, text, top_k, temperatures)
