"""Synchronous entry points for the command-line interface (not for use inside an event loop)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from bot.settings import DEFAULT_GENERATION_MODEL

from ._predict import DEFAULT_TEMPERATURES, render_prediction_png
from ._prompts import build_request
from ._service import GenerationService


def generate_command(
    prompt: str,
    kind: str = "story",
    max_new_tokens: int | None = None,
    temperature: float = 0.8,
    seed: int | None = None,
    service: GenerationService | None = None,
    *,
    slide_text: str | None = None,
) -> dict[str, object]:
    """Generate once through ``service`` (the bot's own path) and return
    ``{"text", "tokens", "seconds", "tokens_per_second", "model", "time_to_first_chunk_s",
    "finish_reason"}``. ``max_new_tokens`` defaults to (and is capped by) the service's limit."""
    if service is None:
        raise ValueError("generate_command needs a GenerationService (GenerationService.from_settings)")
    request = build_request(
        kind,
        prompt,
        slide_text=slide_text,
        max_new_tokens=max_new_tokens or service.max_new_tokens,
        temperature=temperature,
        seed=seed,
    )

    async def run() -> dict[str, object]:
        return (await service.generate(request)).as_dict()

    return asyncio.run(run())


def predict_command(
    text: str,
    top: int = 10,
    *,
    temperatures: Sequence[float] | None = None,
    png: str | Path | None = None,
    backend=None,
    model: str = DEFAULT_GENERATION_MODEL,
    models_dir: str | Path = Path("data/models"),
) -> dict[str, object]:
    """``{"next": [{"token", "probability"}]}`` most likely first; with ``temperatures``, also
    ``"temperatures": [{"temperature", "next": [...], "other"}]``; with ``png``, writes the chart
    there and adds ``"png": path``. Loads the local model unless ``backend`` (a LocalBackend) is given."""
    if backend is None:
        from ._local import LocalBackend

        backend = LocalBackend.load(model, Path(models_dir))
    result: dict[str, object] = {
        "next": [{"token": token, "probability": round(prob, 6)} for token, prob in backend.predict_next(text, top)]
    }
    if temperatures or png:
        view = backend.sampling_view(text, top, tuple(temperatures or DEFAULT_TEMPERATURES))
        result["temperatures"] = [
            {
                "temperature": panel.temperature,
                "next": [{"token": c.token, "probability": round(c.probability, 6)} for c in panel.choices],
                "other": round(panel.other, 6),
            }
            for panel in view.panels
        ]
        if png:
            render_prediction_png(view, png)
            result["png"] = str(png)
    return result
