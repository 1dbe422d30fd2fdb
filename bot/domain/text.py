"""Words, stems, sentences and shortening: the one place the project reads or cuts text.

Retrieval, answering, the quiz judge and every renderer use these, so a question, a slide and an
answer are split, stemmed and shortened the same way everywhere.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

import snowballstemmer

# Words that say nothing about a question's subject. Question words and chat filler are here too
# ("explain", "mean", "vs"): "what does attention mean" is about attention. The next line is what is
# left of "won't", "it's" and "they're" once split at the apostrophe; the last, the verb of "who
# invented X?", which asks about X (and "invented" matches the GAN FAQ, not the transformer's origin).
STOPWORDS = frozenset(
    """a about above after again all also am an and any are as at be because been before being
    between both but by can could did do does doing don down during each few for from further had
    has have having he her here hers him his how i if in into is it its itself just me more most my
    no nor not now of off on once only or other our out over own same she should so some such than
    that the their them then there these they this those through to too under until up very was we
    were what when where which while who whom why will with would you your yours explain tell please
    mean means meant thing things stuff really kind sort get got vs versus difference whats what's
    wat wut wht u ur pls plz im thx idk kinda gonna wanna ok okay hey hi
    t s re ve ll d m doesn isn won didn wasn aren couldn wouldn shouldn hasn haven weren ain
    invent invented invents inventor""".split()
)
# Chat words a learner puts after a question without asking anything more ("what's lora thx")
SIGN_OFF = r"thx|thanks|thank you|ty|pls|plz|please|lol|lmao|haha+"
# Chat words that name nothing, though the deck never uses them ("for a presentation tmrw pls hurry")
CHAT_FILLER = frozenset(re.findall(r"[a-z]+", SIGN_OFF)) | frozenset(
    "btw rn tmrw tmr asap hurry ngl tbh imo fr bruh lowkey fam yo even".split()
)
_WORD = re.compile(r"[a-z0-9]+")
_STEMMER = snowballstemmer.stemmer("english")
# A sentence ends at . ! ? followed by a space and a capital, digit, quote or bracket; "e.g. the"
# and "2.5 billion" do not end one.
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"”')]))\s+(?=[A-Z0-9\"“'(*])")
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", " v.", "approx.", "Dr.", "Mr.", "Ms.", "St.")


# Short forms learners type that the deck spells out.
_SHORT_FORMS = {
    "genai": "generative ai", "gen ai": "generative ai", "llm": "large language model",
    "llms": "large language models", "backprop": "backpropagation", "nn": "neural network", "nns": "neural networks",
    "ml": "machine learning", "gd": "gradient descent", "sd": "stable diffusion",
    "rnn": "recurrent neural network", "rnns": "recurrent neural networks",
    "cnn": "convolutional neural network", "cnns": "convolutional neural networks",
    "finetuning": "fine-tuning", "finetune": "fine-tune", "finetuned": "fine-tuned", "fine tuning": "fine-tuning",
}  # fmt: skip
_SHORT_FORM = re.compile(
    r"(?<![\w-])(" + "|".join(map(re.escape, sorted(_SHORT_FORMS, key=len, reverse=True))) + r")(?![\w-])",
    re.IGNORECASE,
)
# Chat shorthand, in lower case only ("R" may be the language): "hw do u train a gan", "wat r embeddings".
_CHAT_FORMS = {
    "hw": "how", "wat": "what", "wut": "what", "wht": "what", "waht": "what", "r": "are", "u": "you",
    "ur": "your", "abt": "about", "bc": "because", "cuz": "because", "diff": "difference", "btwn": "between",
    "explane": "explain", "explian": "explain", "expalin": "explain", "xplain": "explain", "whta": "what",
    "iz": "is", "teh": "the", "wot": "what", "whut": "what", "betwen": "between", "btween": "between",
    "wtf": "what", "evry": "every", "b4": "before", "ppl": "people", "wuz": "was", "tho": "though",
    "wats": "what's", "wuts": "what's", "evry1": "everyone", "sayz": "says", "wrk": "work", "shud": "should",
    "shld": "should", "wud": "would", "cud": "could", "irl": "in real life",
}  # fmt: skip
_CHAT_FORM = re.compile(r"(?<![\w'-])(" + "|".join(map(re.escape, _CHAT_FORMS)) + r")(?![\w'-])")


# "what the heck is a diffusion model": what is
_EXPLETIVE = re.compile(r"\b(what|how|why|who|where)(?: the (?:heck|hell|fuck|f+))\b", re.IGNORECASE)

# People whose work learners ask about: "will AI replace translators", "will we still need radiologists"
OCCUPATIONS = (
    "workers|people|humans|employees|staff|designers|artists|illustrators|writers|copywriters|translators|"
    "programmers|developers|coders|engineers|doctors|radiologists|lawyers|teachers|accountants|musicians|actors|"
    "journalists"
)
# Everyday phrasings of the deck's ideas: the deck's word is added after them, so both the learner's
# words and the deck's are searched ("why does my chatbot make stuff up" finds slide 18, not the
# ELIZA FAQ that shares "chatbot").
_PARAPHRASES = tuple(
    (re.compile(pattern, re.IGNORECASE), deck_words)
    for pattern, deck_words in (
        (r"\b(?:mak\w*|made) (?:stuff|things|facts|answers|it|sources|quotes) up\b", "hallucinate"),
        # "making up refund policies", "inventing case citations"
        (
            r"\b(?:(?:mak\w*|made) up|invent\w*|fabricat\w*) (?:\w+ ){0,2}(?:facts|answers|sources|quotes|citations|"
            r"references|policies|numbers|statistics|stats|information|info|details|names|cases|papers|links|urls)\b",
            "hallucinate",
        ),
        (r"\b(?:lying|lie to|lied to|lies to|(?:it|they|ai|chatgpt|models?) lies?)\b", "hallucinate"),
        (r"\bconfidently wrong\b", "hallucinate"),
        # "can AI be wrong?", "why does it get facts wrong": not "AI images get hands wrong"
        (
            r"\b(?:ai|it|they|chatgpt|llms?|models?|chatbots?)(?: can| could| will| might)? (?:be|is|are) "
            r"(?:ever |sometimes |often |so )?wrong\b|\bget(?:s|ting)? (?:facts|things|stuff|answers|it) wrong\b|"
            r"\bmak(?:e|es|ing) (?:mistakes|errors)\b",
            "hallucinate",
        ),
        # a chatbot works as the LLM inside it does: not ELIZA, "the first chatbot"
        (
            r"\bhow (?:do|does) (?:a |an )?(?:ai )?(?:chatbots?|chat assistants?|chatgpt) (?:work|answer|reply|respond)\b",
            "large language model",
        ),
        # where its knowledge comes from is its training data
        (
            r"\b(?:get|gets|got|learn|learns|learned|find|finds) (?:its|their|all (?:its|their|that|this)|that|this|the) "
            r"(?:information|info|knowledge|facts|answers)\b",
            "training data",
        ),
        # how a model reads words is tokens and embeddings
        (
            r"\b(?:understand|read|see|process)(?:s|ing)? (?:words|language|text|meaning|sentences)\b",
            "tokens embeddings",
        ),
        # better answers come from better prompts
        (r"\b(?:better|more useful|more accurate) (?:answers|results|replies|responses|outputs?)\b", "prompting"),
        (r"\b(?:used for|use cases?|uses of|useful for)\b", "applications"),
        (r"\bmaths?\b", "arithmetic"),
        (r"\b(?:limitations?|weaknesses|shortcomings|downsides|what (?:can'?t|cannot) (?:it|they) do)\b", "limits"),
        (r"\bfake (?:videos?|photos?|pictures?|images?|voices?)\b", "deepfakes"),
        # "make its answers more creative" is what temperature does
        (
            r"\bmore (?:creative|random|varied|diverse|surprising)\b|\bless (?:predictable|repetitive|boring)\b",
            "temperature",
        ),
        (r"\bcontrovers(?:y|ial)\b", "ethics"),
        # what a learner types to a model is a prompt
        (
            r"\b(?:word|phrase|write|ask|type)(?:ing)? (?:my|the|your|a|our) (?:requests?|questions?|instructions?)\b",
            "prompts",
        ),
        # a model knows nothing after its training data was collected
        (
            r"\b(?:recent(?:ly)?|latest|current|today'?s|this (?:week|month|year)'?s?|last (?:week|month)'?s?) "
            r"(?:events?|news|things|happenings|information|info|stuff)\b|\bhappened recently\b|\bout of date\b",
            "knowledge cutoff",
        ),
        # data protection law and people's data in a prompt are what the slides call privacy
        (
            r"\b(?:gdpr|ccpa|hipaa|data protection|personal (?:data|info\w*)|(?:customer|patient|user|employee)s?'? "
            r"(?:data|emails?|records|names|info\w*))\b",
            "privacy",
        ),
        # people replaced: about jobs, not "Is generative AI replacing traditional AI?"
        (
            rf"\b(?:replac\w*|take over|steal|kill)\b (?:the |our |their |all )?(?:\w+ )?(?:jobs?|{OCCUPATIONS})\b|"
            rf"\bstill (?:need|have|hire) (?:\w+ )?(?:{OCCUPATIONS})\b",
            "jobs",
        ),
        # a bot that answers from an organisation's own documents is what RAG is for
        (
            r"\b(?:company|internal|our|my own|own) (?:wiki|docs|documents|pdfs|files|manuals|knowledge base)\b",
            "retrieval-augmented generation",
        ),
    )
)


# Leetspeak: digits written for the letters they look like ("wh4t 1s 4tt3nt10n")
_LEET = (str.maketrans("013457", "oieast"), str.maketrans("013457", "olease"))
_LEET_WORD = re.compile(r"\b(?=[a-z0-9]*[a-z])(?=[a-z0-9]*[013457])[a-z0-9]+\b", re.IGNORECASE)


def unleet(text: str, is_word: Callable[[str], bool]) -> str:
    """ "h0w d03s 4tt3nt10n w0rk" -> "how does attention work": words with look-alike digits read
    as the words ``is_word`` knows, when at least two of them with two letters or more are (so
    "gpt-4o" or "a 7b model" in a plain question stays as it is)."""
    decoded = {}
    for match in _LEET_WORD.finditer(text):
        word = match[0].casefold()
        plain = next((c for table in _LEET if is_word(c := word.translate(table))), None)
        if plain is not None:
            decoded[match[0]] = plain
    # Two letters or more kept: "4o" and "7b" read as "ao" and "tb" by chance
    if sum(sum(c.isalpha() for c in word) >= 2 for word in decoded) < 2:
        return text
    text = _LEET_WORD.sub(lambda m: decoded.get(m[0], m[0]), text)
    return re.sub(r"\b(is|was|'s) 4\b", r"\1 a", text)  # "wh4t 1s 4 m0d3l": a lone 4 for "a"


def spell_out(text: str, keep: frozenset[str] | set[str] = frozenset(), plurals: bool = False) -> str:
    """Learners' short forms spelled out ("genai" -> "generative ai"), except those in ``keep``."""
    return _SHORT_FORM.sub(
        lambda m: m[0] if _kept(m[1].casefold(), keep, plurals) else _SHORT_FORMS[m[1].casefold()], text
    )


def _kept(short: str, keep: frozenset[str] | set[str], plurals: bool) -> bool:
    """The deck uses the short form, or, with ``plurals``, its singular ("LLMs"; the deck writes "LLM")."""
    return short in keep or (plurals and short.endswith("s") and short[:-1] in keep)


def expand_abbreviations(
    text: str,
    keep: frozenset[str] | set[str] = frozenset(),
    acronyms: dict[str, str] | None = None,
    plurals: bool = False,
) -> str:
    """ "whats genai" -> "whats generative ai": the deck's words for learners' short forms, except
    the short forms in ``keep`` (those the deck itself uses, such as "LLM"); everyday phrasings get
    the deck's word added ("make stuff up" -> "make stuff up (hallucinate)"), and so do the deck's
    own acronyms (``acronyms``, from :func:`acronyms_in`): "rag" -> "rag (retrieval-augmented
    generation)", which the embedding model otherwise reads as a cloth. Idempotent."""
    text = _EXPLETIVE.sub(r"\1", text)
    text = spell_out(_CHAT_FORM.sub(lambda m: _CHAT_FORMS[m[1]], text), keep, plurals)
    for pattern, deck_words in _PARAPHRASES:
        added = f" ({deck_words})"
        text = pattern.sub(lambda m, added=added: m[0] if m.string.startswith(added, m.end()) else m[0] + added, text)
    for short, long in (acronyms or {}).items():
        if long.casefold() not in text.casefold():
            pattern = rf"(?<![\w-]){re.escape(short)}s?(?![\w-])"
            text = re.sub(pattern, lambda m, long=long: f"{m[0]} ({long})", text, count=1, flags=re.IGNORECASE)
    return text


# "Retrieval-augmented generation (RAG)": an acronym in brackets after the words it stands for;
# "LoRA (Low-Rank Adaptation)": the words in brackets after the acronym.
_ACRONYM = re.compile(r"([A-Za-z][A-Za-z -]{2,80}?)\s*\(([A-Z][A-Za-z]*[A-Z])s?\)")
_ACRONYM_FIRST = re.compile(r"\b([A-Z][A-Za-z]*[A-Z])s? \(([A-Za-z][A-Za-z -]{2,80})\)")
_ACRONYM_FILLER = frozenset({"of", "from", "to", "and", "the", "for", "in", "on"})


def acronyms_in(text: str) -> dict[str, str]:
    """The acronyms a text spells out, lower-cased, with the words they stand for: {"rag":
    "retrieval-augmented generation", "gpu": "graphics processing units"}. The words are matched
    to the acronym's capitals from the end, small words skipped, so "also called supervised
    fine-tuning (SFT)" gives "supervised fine-tuning"."""
    found: dict[str, str] = {}
    for match in _ACRONYM.finditer(text):
        letters = [c.casefold() for c in match[2] if c.isupper()]
        parts = list(re.finditer(r"[A-Za-z]+", match[1]))
        start = None
        index = len(parts) - 1
        for letter in reversed(letters):
            while (
                index >= 0 and parts[index][0].casefold()[0] != letter and parts[index][0].casefold() in _ACRONYM_FILLER
            ):
                index -= 1
            if index < 0 or parts[index][0].casefold()[0] != letter:
                start = None
                break
            start = parts[index].start()
            index -= 1
        if start is not None and len(letters) >= 2:
            found.setdefault(match[2].casefold(), match[1][start:].strip().casefold())
    for match in _ACRONYM_FIRST.finditer(text):
        letters = [c.casefold() for c in match[1] if c.isupper()]
        initials = [part[0].casefold() for part in re.findall(r"[A-Za-z]+", match[2])]
        if len(letters) >= 2 and initials == letters:
            found.setdefault(match[1].casefold(), match[2].casefold())
    return found


def words(text: str, stopwords: frozenset[str] = STOPWORDS) -> list[str]:
    """Lower-case content words (letters and digits), ``stopwords`` removed, not stemmed.
    ``stopwords=frozenset()`` gives every word."""
    return [word for word in _WORD.findall(text.casefold()) if word not in stopwords]


@functools.lru_cache(maxsize=100_000)
def stem(word: str) -> str:
    """Snowball stems: "hallucinate" and "hallucinations" meet at "hallucin"."""
    return _STEMMER.stemWord(word)


def edit_distance(a: str, b: str) -> int:
    """Letters inserted, deleted, changed or swapped to turn ``a`` into ``b`` (optimal string alignment)."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]


def terms(text: str) -> list[str]:
    """Stemmed content words: what lexical matching compares."""
    return [stem(word) for word in words(text)]


def sentences(text: str) -> list[str]:
    """Split prose into sentences, keeping abbreviations ("e.g. BERT") inside their sentence."""
    parts: list[str] = []
    for piece in _SENTENCE_END.split(" ".join(text.split())):
        if parts and parts[-1].endswith(_ABBREVIATIONS):
            parts[-1] = f"{parts[-1]} {piece}"
        elif piece:
            parts.append(piece)
    return parts


def shorten(text: str, limit: int, *, flatten: bool = False) -> str:
    """``text`` in at most ``limit`` characters: cut at a sentence end when one is near, else at a
    word, and marked with "…". ``flatten`` first joins lines and runs of spaces (labels, captions)."""
    text = " ".join(text.split()) if flatten else text.strip()
    if len(text) <= limit:
        return text
    if limit < 2:
        return text[:limit]
    window = text[: limit - 2]
    sentence = max(window.rfind(". "), window.rfind(".\n"), window.rfind("\n"))
    if sentence >= limit // 2:
        return window[: sentence + 1].rstrip() + " …"
    word = window.rfind(" ")
    cut = window[:word] if word >= limit // 2 else text[: limit - 1]
    return cut.rstrip() + "…"
