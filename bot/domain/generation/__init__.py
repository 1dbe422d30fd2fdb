"""Text generation for /generate and the next-token explorer, behind one interface.

Backends: ``local`` (transformers in this process; the packaged SmolLM2 by default) and
``openai`` (any OpenAI-compatible server). :class:`GenerationService` queues requests in
front of either. torch and transformers are imported only when a local model is loaded.
"""

from ._cli import generate_command, predict_command
from ._convert import atomic_directory, ensure_local_model, packaged_gguf
from ._examples import example_slide, slide_context
from ._local import LocalBackend, pick_device, pick_dtype
from ._openai import OpenAIBackend
from ._predict import (
    DEFAULT_TEMPERATURES,
    SamplingView,
    TemperaturePanel,
    TokenChoice,
    display_token,
    predict_next,
    render_prediction_png,
    sampling_view,
)
from ._prompts import (
    KINDS,
    MAX_TOPIC_CHARS,
    SYSTEM_PROMPT,
    build_messages,
    build_request,
    looks_like_course_question,
)
from ._quality import Quality, clean_text, distinct_2, junk_share, max_line_repeats, quality
from ._service import GenerationService
from ._types import (
    BackendError,
    ChatMessage,
    Chunk,
    Finished,
    GenerationBackend,
    GenerationError,
    GenerationEvent,
    GenerationRequest,
    GenerationStats,
    GenerationStream,
    GenerationTimeout,
    ModelUnavailable,
    PredictionUnavailable,
    Queued,
    QueueFull,
    Retrying,
    Started,
    StreamOutcome,
)

__all__ = [
    "DEFAULT_TEMPERATURES",
    "KINDS",
    "MAX_TOPIC_CHARS",
    "SYSTEM_PROMPT",
    "BackendError",
    "ChatMessage",
    "Chunk",
    "Finished",
    "GenerationBackend",
    "GenerationError",
    "GenerationEvent",
    "GenerationRequest",
    "GenerationService",
    "GenerationStats",
    "GenerationStream",
    "GenerationTimeout",
    "LocalBackend",
    "ModelUnavailable",
    "OpenAIBackend",
    "PredictionUnavailable",
    "Quality",
    "QueueFull",
    "Queued",
    "Retrying",
    "SamplingView",
    "Started",
    "StreamOutcome",
    "TemperaturePanel",
    "TokenChoice",
    "atomic_directory",
    "build_messages",
    "clean_text",
    "distinct_2",
    "build_request",
    "display_token",
    "ensure_local_model",
    "example_slide",
    "generate_command",
    "junk_share",
    "looks_like_course_question",
    "max_line_repeats",
    "packaged_gguf",
    "pick_device",
    "pick_dtype",
    "predict_command",
    "predict_next",
    "quality",
    "render_prediction_png",
    "sampling_view",
    "slide_context",
]
