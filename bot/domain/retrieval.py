"""Hybrid retrieval: dense (Chroma) and lexical (BM25) scores fused per passage.

The fusion and its weight were chosen by measurement on the evaluation set (``bench/eval.py``).
"""

from __future__ import annotations

import difflib
import functools
import logging
import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Literal

import numpy as np

from bot.domain.index import Hit, VectorIndex
from bot.domain.passages import Passage
from bot.domain.text import (
    STOPWORDS,
    acronyms_in,
    edit_distance,
    expand_abbreviations,
    spell_out,
    stem,
    terms,
    unleet,
    words,
)

Mode = Literal["hybrid", "dense", "bm25"]
_SPELLED = re.compile(r"[A-Za-z]{5,}")

# Questions are cut to this many characters before any model sees them: the embedding model reads
# at most 256 word pieces (about 1,000 characters), so more only costs time.
MAX_QUESTION_CHARS = 2000
# difflib similarity a misspelt word needs to a deck word to be corrected to it (measured: 0.75
# keeps "hallucinashuns" -> "hallucinations" without pulling unrelated words into the deck).
SPELLING_CUTOFF = 0.75
# Stricter for the embedding, where a wrong fix ("temp" -> "term") changes the meaning searched for.
EMBEDDING_SPELLING_CUTOFF = 0.85
DENSE_RECORDS = 40  # records fetched per question; enough to cover every passage worth fusing
LEXICAL_WEIGHT = 0.25
# An FAQ question alone matches any question sharing its subject ("What was the first chatbot?"
# against "why do chatbots hallucinate?"); discounted so the passages that answer win.
QUESTION_RECORD_WEIGHT = 0.95
RARE_ACRONYM_PASSAGES = 3  # an acronym in at most this many passages is spelled out for the model


# "what's" and "whats": the embedding model places them apart from "what is", which the deck's
# questions are written with
_WHATS = re.compile(r"\b(what(?=['’]?s )|(?:who|where|how)(?=['’]s ))['’]?s", re.IGNORECASE)
# "-tion" and "-sion" as they are said: "hallucinashuns", "diffushun"
_SPELT_AS_SAID = re.compile(r"(?:shun|shon|tiun|tiom)(?=s?$)")


@dataclass(frozen=True, slots=True)
class ScoredPassage:
    passage: Passage
    score: float  # the fused score the ranking uses
    dense: float  # best cosine similarity of any of the passage's records
    lexical: float  # BM25 score
    block: int | None  # the block of the passage that matched best, when a block did
    position: int  # the passage's place in the retriever's list
    question_score: float = 0.0  # cosine with the FAQ question alone (FAQ passages; else 0)


@dataclass(frozen=True, slots=True)
class Retrieval:
    """One question's search: its vector (reused to rank sentences) and the ranked passages."""

    question: str
    vector: np.ndarray
    results: list[ScoredPassage]


class Retriever:
    """Ranks the deck's passages for a question. Thread-safe for concurrent reads."""

    def __init__(
        self,
        passages: list[Passage],
        index: VectorIndex,
        embed_one,
        vocabulary: frozenset[str] = frozenset(),
        elsewhere: np.ndarray | None = None,
    ) -> None:
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets DEBUG on import
        self.passages = passages
        self._by_id = {p.id: i for i, p in enumerate(passages)}
        self._index = index
        self.embed = embed_one  # question text -> unit vector
        self._vocabulary = vocabulary  # real words: left as they are by the spelling fix
        self._elsewhere = elsewhere  # the unit vectors of subjects that are not the course's
        corpus = [terms(f"{p.title} {p.section} {p.text}") for p in passages]
        self._bm25 = bm25s.BM25()
        if any(corpus):  # bm25s cannot index an empty corpus (an empty knowledge folder)
            self._bm25.index(corpus, show_progress=False)
        self.term_sets = [set(doc) for doc in corpus]  # each passage's stemmed terms
        # The deck's phrases, runs of up to three stemmed terms ("gradient descent"): a message that
        # is one of them alone asks what it is.
        self.phrases = {
            tuple(doc[i : i + size]) for doc in corpus for size in (1, 2, 3) for i in range(len(doc) - size + 1)
        }
        self._document_frequency = Counter(term for doc in self.term_sets for term in doc)
        # Spelling is corrected on whole words ("attenion" -> "attention"), before stemming.
        self._word_counts = Counter(word for p in passages for word in words(f"{p.title} {p.section} {p.text}"))
        self._known_words = set(self._word_counts)
        # The deck's acronyms that the embedding model knows as other words ("rag", "gan", "cot"), or
        # that the deck itself hardly uses ("bpe", "rlhf"): spelled out after them in questions.
        # Those the deck uses often ("llm") match its passages well enough as they are.
        spelled_out = acronyms_in(" ".join(f"{p.title}. {p.text}" for p in passages))
        self._acronyms = {
            short: long
            for short, long in spelled_out.items()
            if short in vocabulary or self._document_frequency.get(stem(short), 0) <= RARE_ACRONYM_PASSAGES
        }
        self.names = _names_in(p.text for p in passages)
        # Names of two or more capitalised words ("Stable Diffusion", "GitHub Copilot"), folded
        self.name_phrases = {
            m[0].casefold() for p in passages for m in re.finditer(r"\b[A-Z][\w.·-]*(?: [A-Z][\w.·-]*)+", p.text)
        }
        # Misspellings nearly always keep the first letter: compare only with those words (fast).
        self._words_by_initial: dict[str, list[str]] = {}
        for word in sorted(self._known_words):
            self._words_by_initial.setdefault(word[0], []).append(word)
        self._query_terms = functools.lru_cache(maxsize=256)(
            lambda text: tuple(stem(word) for word in self.correct(words(text)))
        )
        self.units = {p.id: p.units() for p in passages}
        # What the slides' titles and headings name: the course's own terms
        self._heading_terms = {
            t for p in passages for t in terms(" ".join([p.title, *(u.heading or "" for u in self.units[p.id])]))
        }
        ids, vectors, _ = index.stored_vectors("unit") or ([], None, [])
        stored = dict(zip(ids, vectors, strict=True)) if ids else {}
        self._unit_vectors = {
            pid: np.stack([stored[u.id] for u in units]) if units and all(u.id in stored for u in units) else None
            for pid, units in self.units.items()
        }

    def unit_scores(self, passage_id: str, vector: np.ndarray) -> np.ndarray:
        """Cosine of the question with each unit of a passage (vectors stored at ingest)."""
        vectors = self._unit_vectors.get(passage_id)
        if vectors is None:  # an index from before units were stored: the next ingest adds them
            return np.zeros(len(self.units.get(passage_id, [])), dtype=np.float32)
        return vectors @ vector

    def elsewhere(self, vector: np.ndarray) -> float:
        """The question's best cosine with a subject that is not the course's; -1 without them."""
        if self._elsewhere is None or not len(self._elsewhere) or not vector.size:
            return -1.0
        return float((self._elsewhere @ vector).max())

    def document_frequency(self, term: str) -> int:
        """In how many passages a stemmed term occurs."""
        return self._document_frequency.get(term, 0)

    def _idf(self, term: str) -> float:
        # A term the deck never uses weighs as much as the rarest one: it is what the question is about.
        return math.log(1 + len(self.passages) / (self._document_frequency.get(term, 0) + 0.5))

    def coverage(self, question: str, positions: list[int]) -> float:
        """How much of the question's vocabulary (weighted by rarity) the best of these passages
        contains: 1.0 when every term is there, low when the question is about words the deck
        never uses ("kalman", "xgboost")."""
        query = set(self.query_terms(question[:MAX_QUESTION_CHARS]))
        total = sum(self._idf(term) for term in query)
        if not total or not positions:
            return 0.0
        return max(sum(self._idf(t) for t in query if t in self.term_sets[i]) / total for i in positions)

    def query_terms(self, question: str) -> tuple[str, ...]:
        """The question's stemmed, spell-corrected terms; cached, as answering asks twice."""
        return self._query_terms(question)

    def prepare(self, question: str) -> str:
        """The question as retrieval reads it: cut to length, emoji left out, leetspeak read
        ("wh4t 1s"), learners' short forms that the deck never uses spelled out ("genai" ->
        "generative ai"; "LLM" stays, the deck says LLM), and the deck's acronyms that read as other
        words followed by what they stand for ("rag (retrieval-augmented generation)")."""
        # emoji and other symbols ("👉 what is attention 👈") say nothing retrieval can use
        question = "".join(c for c in question[:MAX_QUESTION_CHARS] if unicodedata.category(c) != "So")
        question = unleet(question, self.is_word)
        question = _WHATS.sub(r"\1 is", question)  # "what's a token" searched as "what is a token"
        return expand_abbreviations(question, keep=self._known_words, acronyms=self._acronyms, plurals=True)

    def term_weight(self, word: str) -> int:
        """2 for a word the slides' titles or headings use ("tokenization", "fine-tuning", "LLMs"),
        1 for any other word of the deck's, 0 for the rest, a stem shared with another language's
        word ("exactement") included."""
        parts = words(word, frozenset())
        if not parts or not all(
            p in self._known_words or p.removesuffix("s") in self._known_words or f"{p}s" in self._known_words
            for p in parts
        ):
            return 0
        return 2 if all(stem(p) in self._heading_terms for p in parts) else 1

    def is_word(self, word: str) -> bool:
        """A real word: the embedding model's or the deck's."""
        return word in self._vocabulary or word in self._known_words

    def query_vector(self, question: str) -> np.ndarray:
        """The question's embedding, misspellings put right first (what retrieval and the
        evaluation both search with). A plural the deck writes only in the singular is spelled out
        for the model, which reads "large language models" better than "llms"; the words BM25
        matches keep it short, as the deck writes it ("LLM"), so it counts once, not three times."""
        return self.embed(self.spelled(spell_out(question, keep=self._known_words)))

    def spelled(self, question: str) -> str:
        """The question with clearly misspelt words put right for embedding: "hw does atension wrk"
        -> "hw does attention wrk". The embedding model reads a misspelt word as unrelated pieces;
        only long words, close to a deck word, that are not real words themselves are changed."""

        def fix(match: re.Match[str]) -> str:
            word = match[0].casefold()
            if word in STOPWORDS or word in self._vocabulary or word in self._known_words:
                return match[0]
            return self._deck_word_for(word, EMBEDDING_SPELLING_CUTOFF) or match[0]

        return _SPELLED.sub(fix, question)

    def correct(self, query_words: list[str]) -> list[str]:
        """Map misspelt words to the deck's nearest word ("embedings" -> "embeddings")."""
        fixed = []
        for word in query_words:
            if word in self._known_words or word in self._vocabulary or len(word) < 4 or not word.isalpha():
                fixed.append(word)
                continue
            fixed.append(self._deck_word_for(word, SPELLING_CUTOFF) or word)
        return fixed

    def _deck_word_for(self, word: str, cutoff: float) -> str | None:
        """The deck word ``word`` is a misspelling of, if any. Misspellings nearly always keep the
        first letter and change only a few letters: "blockchain" is not a misspelt "blocking"."""
        for ending in ("tion", "sion"):  # "tokenizashun", "diffushun": spelt as it sounds
            sounded = _SPELT_AS_SAID.sub(ending, word)
            if sounded != word and sounded in self._known_words:
                return sounded
        candidates = self._words_by_initial.get(word[0], [])
        close = difflib.get_close_matches(word, candidates, n=5, cutoff=min(cutoff, SPELLING_CUTOFF))
        allowed = max(1 if len(word) < 6 else 2, len(word) // 4)
        # The fewest edits, then the deck's commoner word: "modle" is "model", not "mode". One edit
        # (a swapped pair: "tunign") passes whatever difflib's ratio says.
        ranked = sorted((edit_distance(word, c), -self._word_counts[c], c) for c in close)
        return next(
            (
                candidate
                for distance, _, candidate in ranked
                if distance <= allowed
                and (distance == 1 or difflib.SequenceMatcher(None, word, candidate).ratio() >= cutoff)
            ),
            None,
        )

    def lexical_scores(self, question: str) -> np.ndarray:
        query = self.query_terms(question)
        if not query or not any(self.term_sets):
            return np.zeros(len(self.passages), dtype=np.float32)
        return np.asarray(self._bm25.get_scores(list(query)), dtype=np.float32)

    def dense_scores(
        self, vector: np.ndarray, kinds: frozenset[str] | None = None, question_scores: dict[str, float] | None = None
    ) -> tuple[np.ndarray, dict[str, Hit]]:
        """Per-passage best cosine, and the best hit per passage (to know which block matched).

        ``kinds`` limits which records count (the evaluation compares them); None: all.
        """
        scores = np.zeros(len(self.passages), dtype=np.float32)
        best: dict[str, Hit] = {}
        for hit in self._index.query(vector, DENSE_RECORDS):
            position = self._by_id.get(hit.passage)
            if position is None or (kinds is not None and hit.kind not in kinds):
                continue  # the index holds a passage this deck no longer has (mid-reload)
            if hit.kind == "question" and question_scores is not None:
                question_scores[hit.passage] = hit.score
            score = hit.score * QUESTION_RECORD_WEIGHT if hit.kind == "question" else hit.score
            if score > scores[position]:
                best[hit.passage] = hit
                scores[position] = score
        return scores, best

    def search(self, question: str, k: int = 5, mode: Mode = "hybrid") -> list[ScoredPassage]:
        return self.retrieve(question, k, mode).results

    def retrieve(self, question: str, k: int = 5, mode: Mode = "hybrid") -> Retrieval:
        """Rank passages for a question: one query embedding and one vector search."""
        question = self.prepare(question)
        lexical = self.lexical_scores(question) if mode != "dense" else np.zeros(len(self.passages), np.float32)
        question_scores: dict[str, float] = {}
        vector = self.query_vector(question) if mode != "bm25" else np.zeros(0, np.float32)
        if mode == "bm25":
            dense, best = np.zeros(len(self.passages), np.float32), {}
            fused = lexical
        else:
            dense, best = self.dense_scores(vector, question_scores=question_scores)
            fused = dense if mode == "dense" else fuse(dense, lexical)
        order = np.argsort(-fused, kind="stable")[:k]
        results = []
        for position in order:
            passage = self.passages[position]
            hit = best.get(passage.id)
            results.append(
                ScoredPassage(
                    passage,
                    float(fused[position]),
                    float(dense[position]),
                    float(lexical[position]),
                    hit.block if hit else None,
                    int(position),
                    question_scores.get(passage.id, 0.0),
                )
            )
        return Retrieval(question, vector, results)


def _names_in(texts) -> dict[str, str]:
    """The names a deck mentions (tools, products, places), folded, as the deck spells them: the
    words it only ever writes with a capital, counting a sentence's first word only when a capital
    follows inside it ("LangChain", "GPT-4", "Colab")."""
    capitalised: dict[str, str] = {}
    lower: set[str] = set()
    for text in texts:
        for match in re.finditer(r"[A-Za-z][\w.-]*[A-Za-z0-9]", text):
            word = match[0]
            if not word[0].isupper():
                lower.add(word.casefold())
                continue
            before = text[: match.start()].rstrip(" *_`(")
            # a quotation starts a sentence: 'for example "Sorry your parcel…"'
            quoted = before.endswith(('"', "“", "'", "‘"))
            before = before.rstrip("\"'“‘")
            starts_sentence = quoted or not before or before[-1] in ".!?:#\n-" or before[-1].isdigit()
            if not starts_sentence or any(c.isupper() or c.isdigit() for c in word[1:]):
                capitalised.setdefault(word.casefold(), word)
    return {folded: word for folded, word in capitalised.items() if folded not in lower}


def fuse(dense: np.ndarray, lexical: np.ndarray, weight: float = LEXICAL_WEIGHT) -> np.ndarray:
    """Dense cosine plus BM25 scaled to [0, 1] by the best lexical match for this question."""
    top = float(lexical.max()) if lexical.size else 0.0
    return dense + weight * (lexical / top) if top > 0 else dense.copy()


def reciprocal_rank_fusion(dense: np.ndarray, lexical: np.ndarray, k: int = 60) -> np.ndarray:
    """The usual alternative, kept for the evaluation's side-by-side comparison."""
    fused = np.zeros_like(dense)
    for scores in (dense, lexical):
        ranks = np.empty(len(scores), dtype=np.int64)
        ranks[np.argsort(-scores, kind="stable")] = np.arange(len(scores))
        fused += 1.0 / (k + 1 + ranks)
    return fused
