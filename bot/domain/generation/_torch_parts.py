"""Pieces that subclass transformers classes; imported only when a local model is used."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import torch
from transformers import LogitsProcessor, StoppingCriteria
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


class NewTextRepetition(LogitsProcessor):
    """Repetition penalty and a no-repeat n-gram block over the *new* tokens only.

    transformers' own processors also count the prompt, so they push the model away from the
    very topic words (and worked example) it was given; here only what the model wrote itself is
    penalised. ``penalty`` divides a positive logit (multiplies a negative one) of every word
    token already written (``words``: a mask of the tokens with a letter; punctuation, digits and
    line breaks stay free, or lists and sentence ends would be held back); a token that would
    complete an ``ngram``-gram already written is banned."""

    def __init__(
        self, prompt_tokens: int, penalty: float = 1.0, ngram: int = 0, words: torch.Tensor | None = None
    ) -> None:
        self.prompt_tokens = prompt_tokens
        self.penalty = penalty
        self.ngram = ngram
        self.words = words

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        new = input_ids[:, self.prompt_tokens :]
        if new.shape[-1] == 0:
            return scores
        if self.penalty != 1.0:
            written = torch.gather(scores, 1, new)
            penalised = torch.where(written < 0, written * self.penalty, written / self.penalty)
            if self.words is not None:
                penalised = torch.where(self.words[new.clamp(max=self.words.shape[0] - 1)], penalised, written)
            scores = scores.scatter(1, new, penalised)
        n = self.ngram
        if n and new.shape[-1] >= n:
            for row, ids in enumerate(new.tolist()):
                prefix = ids[len(ids) - n + 1 :] if n > 1 else []
                banned = {ids[i + n - 1] for i in range(len(ids) - n + 1) if n == 1 or ids[i : i + n - 1] == prefix}
                if banned:
                    scores[row, list(banned)] = -float("inf")
        return scores


def word_token_mask(tokenizer, size: int) -> torch.Tensor:
    """True for each token id whose text has a letter (the ones a repetition penalty applies to)."""
    mask = torch.zeros(size, dtype=torch.bool)
    for token_id in range(min(size, len(tokenizer))):
        piece = tokenizer.convert_ids_to_tokens(token_id)
        mask[token_id] = bool(piece) and any(c.isalpha() for c in piece.replace("Ġ", "").replace("Ċ", ""))
    return mask


NATURAL_END_SHARE = 0.8  # past this share of the token budget, a sentence or line end ends the text
_ENDS = (".", "!", "?", "\n", "…", '."', '!"', '?"', ".”", "!”", "?”")


class NaturalEnd(StoppingCriteria):
    """Stops at the first sentence or line end once ``NATURAL_END_SHARE`` of ``max_new_tokens``
    new tokens are written, so a text cut by its budget still ends where a sentence does."""

    def __init__(self, tokenizer, prompt_tokens: int, max_new_tokens: int) -> None:
        self.tokenizer = tokenizer
        self.prompt_tokens = prompt_tokens
        self.soft_limit = max(1, int(NATURAL_END_SHARE * max_new_tokens))

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        done = False
        if input_ids.shape[-1] - self.prompt_tokens >= self.soft_limit:
            last = self.tokenizer.decode(input_ids[0, -1:], skip_special_tokens=True)
            done = last.rstrip(" ").endswith(_ENDS) and bool(last.strip(" "))
        return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)


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
