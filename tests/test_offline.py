"""Offline for the packaged models only: they load without a single request to a model hub, while a
Hugging Face model name in the settings does go to the hub (where the network allows).

The hub here is a loopback recorder (``HF_ENDPOINT``) that answers 404 to everything and keeps the
paths asked for; the process runs without HF_HUB_OFFLINE, as on an operator's machine.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading

from tests.conftest import ROOT

SCRIPT = """
import json, os, sys
import bot
offline_after_import = os.environ.get("HF_HUB_OFFLINE")
from pathlib import Path
from bot.domain.embedding import Embedder
from bot.domain.tokenizers import Tokenizers
from bot.domain.generation._convert import ensure_local_model
from bot.domain.generation._types import ModelUnavailable

models = Path(sys.argv[1])
Embedder().encode_one("hello")
tokens = Tokenizers(cache_dir=models)
for name in ("wordpiece", "smollm2", "gpt2", "cl100k"):
    tokens.tokenize("hello world", name)
ensure_local_model("SmolLM2-135M-Instruct", models, progress=False)
import urllib.error, urllib.request
try:  # a marker in the recorder's list: what comes before it, the packaged models asked for
    urllib.request.urlopen(os.environ["HF_ENDPOINT"] + "/packaged-models-loaded")
except urllib.error.HTTPError:
    pass
print("PACKAGED-DONE", flush=True)
try:
    ensure_local_model("someone/some-model", models, progress=False)
    hub = "loaded"
except ModelUnavailable as error:
    hub = str(error)
print(json.dumps({"offline_after_import": offline_after_import, "hub": hub}))
"""


class Recorder(http.server.BaseHTTPRequestHandler):
    paths: list[str] = []

    def _record(self) -> None:
        Recorder.paths.append(self.path)
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"error": "Repository not found"}')

    do_GET = do_HEAD = do_POST = _record

    def log_message(self, *args) -> None:  # quiet
        pass


def test_packaged_models_never_ask_the_hub_but_a_model_name_does(tmp_path):
    Recorder.paths = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env.update(HF_ENDPOINT=f"http://127.0.0.1:{server.server_port}", HF_HOME=str(tmp_path / "hf"))
    try:
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(tmp_path / "models")],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stderr[-3000:]
    before, after = done.stdout.split("PACKAGED-DONE")
    result = json.loads(after.strip().splitlines()[-1])
    assert result["offline_after_import"] is None, "importing the bot does not switch the hub off"
    asked = list(Recorder.paths)
    marker = asked.index("/packaged-models-loaded")
    assert asked[:marker] == [], f"packaged models asked the hub: {asked[:marker]}"
    assert any("someone/some-model" in path for path in asked[marker:]), "a model name goes to the hub"
    assert "someone/some-model" in result["hub"] and "\n" not in result["hub"]
