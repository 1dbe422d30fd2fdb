"""What the model would say next: next-token probabilities, how temperature reshapes them,
and a bar chart of both."""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

DEFAULT_TEMPERATURES: tuple[float, ...] = (0.2, 1.0, 1.5)


def display_token(token: str) -> str:
    """A token readable in a list or chart: "·" for each space, "↵" for a newline, "⇥" for a tab."""
    shown = token.replace(" ", "·").replace("\n", "↵").replace("\t", "⇥").replace("\r", "␍")
    shown = "".join(ch if ch.isprintable() else f"⟨0x{ord(ch):02X}⟩" for ch in shown)
    return shown if shown else "∅"


@dataclass(frozen=True)
class TokenChoice:
    token: str  # display form (see display_token)
    token_id: int
    probability: float


@dataclass(frozen=True)
class TemperaturePanel:
    temperature: float
    choices: tuple[TokenChoice, ...]  # the same tokens in every panel, most likely (at T=1) first
    other: float  # probability left to every other token in the vocabulary


@dataclass(frozen=True)
class SamplingView:
    text: str
    panels: tuple[TemperaturePanel, ...]


def _token_text(tokenizer: Any, token_id: int) -> str:
    text = tokenizer.decode([token_id])
    if "\ufffd" in text:  # part of a multi-byte character: show the raw piece instead
        raw = tokenizer.convert_ids_to_tokens(token_id)
        return f"⟨{raw}⟩"
    return display_token(text)


def next_token_logits(model: Any, tokenizer: Any, text: str):
    """Logits (float32, on CPU) of the token that would follow ``text`` (no chat template)."""
    import torch

    if not text:
        raise ValueError("text must not be empty")
    ids = tokenizer(text, return_tensors="pt")["input_ids"].to(model.device)
    if ids.shape[-1] == 0:
        raise ValueError("text produced no tokens")
    with torch.inference_mode():
        logits = model(input_ids=ids).logits[0, -1]
    return logits.float().cpu()


def predict_next(model: Any, tokenizer: Any, text: str, top_k: int = 10) -> list[tuple[str, float]]:
    """The ``top_k`` most likely next tokens with their probabilities (softmax over the whole
    vocabulary at temperature 1), most likely first."""
    import torch

    probs = torch.softmax(next_token_logits(model, tokenizer, text), dim=-1)
    values, ids = torch.topk(probs, k=min(top_k, probs.shape[-1]))
    return [(_token_text(tokenizer, int(i)), float(p)) for p, i in zip(values, ids, strict=True)]


def sampling_view(
    model: Any,
    tokenizer: Any,
    text: str,
    top_k: int = 10,
    temperatures: Sequence[float] = DEFAULT_TEMPERATURES,
) -> SamplingView:
    """The distribution sampling draws from at each temperature: softmax(logits / T) over the
    whole vocabulary, shown for the ``top_k`` tokens most likely at T=1. Low T sharpens it
    towards the top token; high T flattens it."""
    import torch

    if not temperatures or any(t <= 0 for t in temperatures):
        raise ValueError("temperatures must be > 0 (T=0 is greedy: all probability on the top token)")
    logits = next_token_logits(model, tokenizer, text)
    _, ids = torch.topk(logits, k=min(top_k, logits.shape[-1]))
    labels = [_token_text(tokenizer, int(i)) for i in ids]
    panels = []
    for temperature in temperatures:
        probs = torch.softmax(logits / temperature, dim=-1)
        chosen = probs[ids]
        choices = tuple(TokenChoice(label, int(i), float(p)) for label, i, p in zip(labels, ids, chosen, strict=True))
        panels.append(TemperaturePanel(float(temperature), choices, max(0.0, 1.0 - float(chosen.sum()))))
    return SamplingView(text, tuple(panels))


def _label(token: str) -> str:
    return token.replace("$", r"\$")  # keep matplotlib from reading "$...$" as math


def render_prediction_png(
    prediction: SamplingView | Sequence[tuple[str, float]],
    path_or_file: str | Path | BinaryIO | None = None,
    *,
    title: str | None = None,
) -> bytes:
    """A horizontal bar chart, one panel per temperature (or one panel for a plain
    ``predict_next`` list). Returns the PNG bytes, also written to ``path_or_file`` if given."""
    from matplotlib.figure import Figure  # no pyplot: no global state, safe off the main thread

    if isinstance(prediction, SamplingView):
        panels = [
            (
                f"T = {p.temperature:g}  (all others: {p.other:.0%})",
                [c.token for c in p.choices],
                [c.probability for c in p.choices],
            )
            for p in prediction.panels
        ]
        text = prediction.text
    else:
        pairs = list(prediction)
        panels = [("T = 1", [t for t, _ in pairs], [p for _, p in pairs])]
        text = None
    if not panels or not panels[0][1]:
        raise ValueError("nothing to draw")

    rows = len(panels[0][1])
    figure = Figure(figsize=(3.6 * len(panels) + 0.8, 0.42 * rows + 1.6), dpi=110)
    axes = figure.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for ax, (name, tokens, probs) in zip(axes, panels, strict=True):
        positions = list(range(len(tokens)))
        ax.barh(positions, probs, color="#4C72B0")
        ax.set_yticks(positions, [_label(t) for t in tokens], fontsize=10)
        ax.invert_yaxis()  # most likely on top
        ax.set_xlim(0, 1.12)
        ax.set_title(name, fontsize=11)
        ax.set_xlabel("probability")
        for y, p in zip(positions, probs, strict=True):
            ax.text(p + 0.01, y, f"{p:.1%}", va="center", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
    if title is None and text is not None:
        tail = text if len(text) <= 60 else "…" + text[-59:]
        title = "Next token after “{}”".format(tail.replace("\n", "↵"))
    if title:
        figure.suptitle(_label(title), fontsize=11)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph .* missing")  # rare scripts and emoji
        figure.tight_layout()
        figure.savefig(buffer, format="png")
    data = buffer.getvalue()
    if isinstance(path_or_file, (str, Path)):
        Path(path_or_file).write_bytes(data)
    elif path_or_file is not None:
        path_or_file.write(data)
    return data
