"""Slide Tutor: a Discord bot that tutors learners through a Generative-AI slide deck."""

import os

# Models come from installed packages or local folders; a hub download would hang or fail offline.
# Set once, here, at the package's import root: huggingface_hub and transformers read these when
# they are first imported, which is always after ``bot`` is (the environment may still override).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
