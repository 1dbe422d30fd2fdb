"""Pieces that subclass transformers classes; imported only when a local model is used."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import torch
from transformers import StoppingCriteria
from transformers.generation.streamers import BaseStreamer


class StopWhen(StoppingCriteria):
    """Stops generation once any of ``events`` is set or ``deadline`` (monotonic) has passed;
    checked after every new token."""

    def __init__(self, events: tuple[threading.Event, ...], deadline: float | None) -> None:
        self.events = events
        self.deadline = deadline

    def should_stop(self) -> bool:
        if any(event.is_set() for event in self.events):
            return True
        return self.deadline is not None and time.monotonic() >= self.deadline

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        return torch.full((input_ids.shape[0],), self.should_stop(), dtype=torch.bool, device=input_ids.device)


class ChunkStreamer(BaseStreamer):
    """Hands ``on_text`` each piece of newly decoded text, one token at a time, holding back
    an incomplete UTF-8 character until the token that completes it arrives."""

    def __init__(self, tokenizer, on_text: Callable[[str], None]) -> None:
        self._tokenizer = tokenizer
        self._on_text = on_text
        self._ids: list[int] = []
        self._sent = 0
        self._prompt_seen = False
        self.new_tokens = 0

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_seen:  # generate() first hands over the prompt
            self._prompt_seen = True
            return
        ids = value.reshape(-1).tolist()
        self.new_tokens += len(ids)
        self._ids.extend(ids)
        self._flush(final=False)

    def end(self) -> None:
        self._flush(final=True)

    def _flush(self, final: bool) -> None:
        text = self._tokenizer.decode(self._ids, skip_special_tokens=True)
        if not final and text.endswith("\ufffd"):
            return
        new = text[self._sent :]
        if new:
            self._sent = len(text)
            self._on_text(new)
