"""Slide Tutor: a Discord bot that tutors learners through a Generative-AI slide deck."""

# The packaged models (MiniLM, SmolLM2, the tokenizers' files) load from their packages' folders
# with ``local_files_only``, so they never touch the network. Hugging Face stays online for a model
# *name* given in the settings, where the network allows (HF_HUB_OFFLINE=1 in the environment keeps
# it to the local cache).
