"""Answers from the slides that answer the question asked, with citations, and an honest "not covered".

Nothing here generates text: every sentence of an answer is a sentence of the deck. The answer is
composed from sentences, not whole blocks: the question's kind (what-is, how, why, compare,
example, yes/no, list) decides what content leads, the sentences of the best passages are ranked
by meaning (their vectors were stored at ingest) and by the question's words, and 2 to 4 of them
are quoted in the deck's order. A list or a set of steps is never entered in the middle.

Why one long module: the question kinds, the sentence ranking and the rendering of an answer
are tuned together on the evaluation set; apart, every change would touch three files.
"""

from __future__ import annotations

import collections
import re
from dataclasses import dataclass, field, replace
from typing import Literal

from bot.domain.confidence import DEFAULT_RULE, ConfidenceRule
from bot.domain.errors import UserError
from bot.domain.passages import Passage, Unit
from bot.domain.retrieval import Mode, Retrieval, Retriever, ScoredPassage
from bot.domain.text import CHAT_FILLER, OCCUPATIONS, SIGN_OFF, STOPWORDS, shorten, stem, terms

AnswerKind = Literal["answer", "partial", "decline"]
QuestionType = Literal["what-is", "who-when", "how", "why", "compare", "example", "yes-no", "list", "other"]

# A second slide is cited when its fused score is this close to the best one's.
SECOND_SOURCE_RATIO = 0.97
# An FAQ answers as it stands when its question alone is this close in meaning to the learner's.
FAQ_MATCH = 0.8
# ... or this close, when the FAQ leads every other slide's passages by FAQ_LEAD of fused score.
FAQ_NEAR = 0.75
FAQ_LEAD = 0.2
# An FAQ's first answer sentence counts as this much less close to a question than the FAQ's question,
# when the FAQ is the best passage by this much of fused score.
FAQ_ANSWER_DISCOUNT = 0.1
FAQ_ANSWER_LEAD = 0.1
# A follow-up's own topic slide gets this much added to its score.
FOCUS_BONUS = 0.15
MAX_SENTENCES = 3
# A follow-up leads with something not yet shown unless a shown sentence answers clearly better.
SEEN_PENALTY = 0.07
# ... and repeats what it showed when the best new sentence scores this much below it.
REPEAT_MARGIN = 0.25
# A specific (a word with a digit) the deck uses in at most this many passages, but not on the
# slide that answers, makes the answer partial ("which GPU for a 70B model" answered from slide 21).
RARE_PASSAGES = 2
# Sentences are ranked across this many of the best slides; a slide's sentences lose
# SLIDE_PRIOR x how far its best passage scored below the best one.
CANDIDATE_SLIDES = 3
SLIDE_PRIOR = 1.0
# Less for a what-is question, whose definition weighs more than the words it shares with a slide
# ("what is cosine similarity": slide 13 defines it; slide 21's setup steps use it twice).
WHAT_IS_SLIDE_PRIOR = 0.8
MAX_ANSWER_CHARS = 900
MAX_LIST_ITEMS = 8
# How much each signal adds to a sentence's cosine with the question when choosing what leads.
TERM_WEIGHT = 0.25  # share of the question's terms the sentence contains
DEFINITION_WEIGHT = 0.2  # a what-is question, and the sentence says what its subject is
SUBJECT_WEIGHT = 0.1  # the sentence names the subject of a what-is question
HEADING_WEIGHT = 0.2  # ... and opens the key concept whose heading includes the subject
NAMED_HEADING_WEIGHT = 0.3  # ... headed with the subject's own name of two or more words ("### LLM-as-a-judge")
STEP_WEIGHT = 0.1  # a how question, and the unit is a step
STRESS_WEIGHT = 0.1  # a follow-up, and the sentence has a word it adds to the topic ("and for code?")
LEANING_PENALTY = 0.15  # a what-is lead that leans on what came before ("It…", "This is why…")
LEAD_SECTIONS = ("overview", "key concepts", "in plain words")

# "should I fine-tune or use RAG?": a choice between two things is a comparison of them.
_CHOICE = (
    r"^(?:should i|do i|would you|is it better to|which is better,?) (?:use |pick |choose |go with |do )?(.+?) or (?!not\b)"
    r"(?:should i )?(?:use |pick |choose |go with |do )?(.+?)(?: first| instead)?$"
)
_QUESTION_TYPES: tuple[tuple[QuestionType, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern))
    for kind, pattern in (
        ("compare", r"\b(differen\w*|compare\w*|comparison|vs\.?|versus|better than|same (thing )?as|similar to)\b"),
        ("compare", _CHOICE),
        ("example", r"\b(example|examples|e\.g|show me how|instance of)\b"),
        (
            "list",
            r"^(what|which) (are|were) (the |some )?(main |different |common )?(types|kinds|families|steps|ways|examples|uses|applications|parts|risks|limits|tools)\b",
        ),
        ("list", r"^(name|list|give me) (some|a few|the|all)\b"),
        ("other", r"^what (is|are|'s) .+ (used|good|useful) for$"),  # uses, not a definition
        ("what-is", r"^(so |and |ok |okay )?(what('?s| is| are| was| were)|whats|define|definition of|meaning of)\b"),
        ("what-is", r"^(what does|what do) .+ (mean|stand for)\b"),
        ("what-is", r"^(what does|what do) (?!(?:i|you|we|they|people)\b)[\w' -]+ do$"),  # "what does temperature do"
        ("what-is", r"^(explain|describe) (what )?(an? |the )?[\w-]+( [\w-]+){0,2}\??$"),
        ("who-when", r"^(so |and )?(who|when|what year|in what year|since when)\b"),
        # "how big / how many / how long": a quantity, not a process
        (
            "how",
            r"^(so |and )?(how(?! (?:big|many|much|long|large|small|fast|slow|old|often|far|accurate|good|well|"
            r"likely|hard|easy|expensive|cheap)\b)|in what way|what steps|walk me through)\b",
        ),
        ("why", r"^(so |and )?(why|how come|what makes)\b"),
        ("yes-no", r"^(is|are|can|could|does|do|did|will|would|should|has|have|was|were|am)\b"),
    )
)
# Who made something, or when it was made: "who invented the internet", "when was LoRA introduced"
_MADE = (
    "invented|created|made|built|developed|introduced|released|launched|published|founded|coined|"
    "invent|create|introduce|release|launch|publish"
)
_ORIGIN = re.compile(
    r"^(?:so |and )?(?:who (?:first )?(?:invent\w*|created?|made|built|developed|came up with|discovered|founded|coined|"
    rf"is the (?:inventor|creator) of|is the(?= (?:god)?(?:father|mother) of))|when (?:was|were|did|is)(?= .+ (?:{_MADE})$))"
    r" (?:the (?:term|word|idea|concept|name|first|original) |the |first )?(?P<subject>.+?)"
    rf"(?: (?:{_MADE}))?$"
)
# "a 13b model": a model's size, which the deck's figures for memory speak to
_MODEL_SIZE = re.compile(r"\b\d+(?:\.\d+)?b\b(?= (?:model|llm|param))", re.I)
# today's leaders, which no slide can know: "the highest MMLU score right now"
_NOW = "right now|currently|at the moment|these days"
_EVENT = r"announce[ds]?|release[ds]?|launch(?:ed|es)?|unveil(?:ed|s)?|dropped"
_RECENTLY = r"(?:last|this|past) (?:week|month|few days)(?!'s)|yesterday|today|recently|lately"
_LEADERS = "best|top|cheapest|fastest|leading|leads|highest|biggest|largest|smartest|most powerful|record"
# What a slide never settles, however well it covers the subject: the learner's own case, the
# future of a job, today's prices: the slides teach the ideas, they don't pick products, settings or
# verdicts. A confident answer to such a question is partial, and says which.
_OWN_CASE = "They don't give advice about your own project"
_JOBS = "They don't predict what will happen to a particular job"
_CASE_ADVICE = "They don't give advice for a particular case"
# An FAQ that asks for advice itself: "Should I fine-tune, improve my prompt or use RAG?"
_ADVICE_FAQ = re.compile(r"(?:should|which|when should)\b")
_BEYOND_THE_SLIDES = (
    (
        re.compile(
            r"\b(?:will|would) (?:ai|it|they|genai|\w+) (?:replace|take|kill|steal)\b|\b(?:going|gonna) (?:to )?replace\b|"
            rf"\bstill (?:need|have|hire) (?:\w+ )?(?:{OCCUPATIONS})\b"
        ),
        _JOBS,
    ),
    (
        re.compile(
            # "which embedding model should I use", "… should I use for LoRA on Llama 3"; not "how many
            # examples should I use?" (the deck says)
            r"\b(?:best(?! way| ways| practices?| place to (?:start|begin))|recommend\w*|should i (?:buy|pick|choose|get|pay for)|should i use (?:for|with|on|in) \w+|"
            r"which (?:\w+ ){1,3}(?:should|do) (?:i|we) (?:buy|use|need|get|pick|choose|tweak|change|adjust|set)|"
            r"what (?:settings|parameters|values|hyperparameters|batch size|learning rate) should (?:i|we)|"
            # a value for one run: "should I drop my lr to 1e-5?"
            r"should (?:i|we) (?:drop|lower|raise|increase|decrease|reduce|set|change|bump) (?:my |the |our )?[\w ]{1,20} to \d\S*|"
            r"(?:requires?|obliges?) (?:me|us) to|"
            r"which (?:one|of them|of these) (?:should|for|to (?:use|pick|choose))|"
            # a choice for one case: "should I use top-k or top-p for my chatbot?"
            r"should (?:i|we) (?:use|pick|choose|go with|try) [^?]{1,40} or [^?]{1,40} (?:for|in|with|on) (?:my|our)|"
            r"which should (?:i|we)|should (?:i|we) go with|which is better for (?:my|our)|"
            r"which (?:one )?(?:sounds|looks|works|performs) (?:better|more \w+)|enough to run|"
            r"what (?:kind of |sort of )?(?:gpu|graphics card|hardware|computer|laptop|pc|ram|vram) (?:do|would|will) i need|"
            r"how much (?:vram|ram|gpu memory|memory|disk space|storage) (?:do|would|will) i need|"
            r"is it legal|legally|the right (?:settings|values|parameters|hyperparameters)|"
            r"which (?:\w+ ){1,3}is (?:the )?(?:fastest|cheapest|quickest|most \w+)|"
            r"worth (?:buying|paying|it|the))\b"
        ),
        _CASE_ADVICE,
    ),
    (
        # "CUDA out of memory when I load Mistral 7B", "my agent keeps looping, pls fix"
        re.compile(
            r"\b(?:fix|debug|troubleshoot) my\b|^(?:pls |please )?help,? my\b|\b(?:pls|plz|please) (?:fix|debug|rewrite|correct)\b|(?<=[.,] )what(?:'?s| is) wrong\b|\bwhat(?:'?s| is) wrong with my\b|\bout of memory\b|\b(?:throws?|throwing|getting|got) "
            r"(?:an? |this |the )?(?:\d+ )?\w*(?:error|exception)s?\b|\bkeeps? (?:looping|crashing|failing|freezing)\b|"
            r"\breturns? (?:an? )?(?:empty|nothing|none|null)\b|\bwhat (?:am i|are we) doing wrong\b|\bwhat did (?:i|we) do wrong\b|"
            r"\b(?:won'?t|doesn'?t|does not|will not|isn'?t|is not) (?:go(?:ing)? down|decrease|improve|converge)\b|\bstuck at \d|\b(?:goes|went|gone|stays?) flat\b|\bplateau\w*|"
            # "is my gan mode collapsing?", "is my model overfitting": a diagnosis of the learner's own run
            r"^(?:is|are) my (?:\w+ ){1,2}(?!being\b|getting\b)\w+ing\b"
        ),
        "They don't help fix a particular setup",
    ),
    (
        # "deploy … on AWS SageMaker", "set up Ollama on Windows"
        re.compile(
            r"\b(?:deploy\w*|set ?up|setting up|install\w*|host\w*|run(?:ning)?|use|using)\b.*\b(?:on|to|in|with) (?:an? |the |my )?"
            r"(?:\w+ ){0,2}(?:aws|azure|gcp|google cloud|kubernetes|k8s|docker|windows|macos|linux|heroku|vercel|sagemaker|"
            r"cloud run|raspberry pi|jetson|server|cloud|macs?|macbook|m1|m2|m3|iphone|android|colab|kaggle|runpod|"
            r"paperspace)\b"
        ),
        "They don't give the steps for a particular platform",
    ),
    (
        # the law of one country: "can I copyright a novel written with ChatGPT in the UK?"
        re.compile(
            r"^(?=.*\b(?:legal\w*|laws?|lawful|copyright\w*|fair use|allowed|sue|owns?|gdpr)\b)"
            r"(?=.*\b(?:in|under) (?:the )?(?:uk|us|usa|eu|europe|germany|france|canada|india|china|japan|australia|"
            r"california|brazil|spain|italy)\b)|\bgdpr\b"
        ),
        "They don't give legal advice for a particular country",
    ),
    (
        re.compile(
            r"\b(?:get|find|land) a job\b|\bcareer\b|\bsalar(?:y|ies)\b|\bhiring\b|\binterns(?:hips?)?\b|\broadmap\b|"
            r"\bbecome an? (?:ai|ml|machine learning|data|prompt) \w+|\bmaster'?s\b|\bphd\b|\bbootcamp\b|\bresume\b|"
            r"\bswitch (?:careers?|jobs?|from \w+(?: \w+)? to)\b|\bquit my (?:\w+ )?job\b|\bshould i study\b|"
            r"\bwork in (?:ai|ml|tech)\b|\bmajor in\b"
        ),
        "They don't give career advice",
    ),
    (
        re.compile(
            r"\bhow much (?:does|do|will|would|did) .{0,40}\bcost\b|\bprices?\b|\bpricing\b|\bcheapest\b|"
            r"\bbucks\b|\bper month\b|\bbudget\b"
        ),
        "They don't give prices",
    ),
    (
        # today's leaders and tomorrow's releases: "when is GPT-5 coming out", "the current top score"
        re.compile(
            r"\b(?:coming out|release date|be released|top score|leaderboard|state of the art|sota|latest version|"
            r"newest version|when did it (?:drop|come out|launch)|any news|available (?:in|on) (?!the slides?)\w+|availability)\b|"
            r"\bjust (?:drop|dropped|release[ds]?|launch(?:ed|es)?|announce[ds]?)\b|"
            r"\b(?:release[ds]?|drop(?:ped)?|launch(?:ed)?|out) .{0,30}\byet\b|"
            # "what did OpenAI announce last week?"
            rf"\b(?:{_EVENT})\b.{{0,30}}\b(?:{_RECENTLY})\b|\b(?:{_RECENTLY})\b.{{0,30}}\b(?:{_EVENT})\b|"
            rf"\b(?:{_NOW})\b.*\b(?:{_LEADERS})\b|\b(?:{_LEADERS})\b.*\b(?:{_NOW})\b"
        ),
        "They don't follow the news or today's figures",
    ),
    (
        # "the exact prompt template", "actual numbers for a report", "does OpenAI use internally"
        re.compile(
            r"\bexact\b(?! (?:same|definition|meaning|difference))|\bactual (?:numbers|figures)\b|\binternally\b|"
            r"\bexactly how (?:many|much)\b|\b(?:have|has|use|cost|take) exactly\b"
        ),
        "They don't go into that much detail",
    ),
    (
        # "… in my commercial product", last, as the reasons above say more; in a long story ("my
        # company wants to…", 25 words or more) it sets the scene for a general question
        re.compile(
            r"^(?=(?:\S+\s+){0,24}\S+$).*\bmy (?:[\w-]+ ){0,2}"
            r"(?:code|app|model|training|job|project|product|business|company|startup)\b"
        ),
        _OWN_CASE,
    ),
)


def _without_asides(text: str) -> str:
    """The text without its asides in brackets, such as the acronyms retrieval spells out ("rag
    (retrieval-augmented generation)"), its spaces made single."""
    return " ".join(re.sub(r"\([^()]*\)", " ", text).split())


def _beyond(question: str, faq: str = "") -> str:
    """What no slide settles that the question asks ("They don't give prices"), or "" ; not when the
    FAQ quoted asks it too ("Is it legal to train AI on copyrighted material?")."""
    folded = _without_asides(question.casefold())
    return next(
        (what for pattern, what in _BEYOND_THE_SLIDES if pattern.search(folded) and not pattern.search(faq)), ""
    )


_SUBJECT = re.compile(
    r"^(so |and |ok |okay )?(what('?s| is| are| was| were)|whats|define|definition of|meaning of|what does|what do|explain|describe)\s+"
    r"(what )?(exactly |actually |really )?(an? |the )?"
    # "what's the point of attention?" asks about attention
    r"((point|purpose|role|job|goal|function|idea) of (an? |the )?)?"
)
_SUBJECT_TAIL = re.compile(r"\s+(mean|means|stand for|do|exactly|actually|really|even|again|in ai|in this course)\s*$")


# Polite or chatty openings that don't change what is asked: "can you tell me what a token is".
_LEAD_IN = re.compile(
    r"^(?:(?:hey|hi|hello|yo|ok|okay|so|but|well|um+|pls|plz|please|bot|tutor|quick (?:q|question)|question|q)"
    r"[,:!]? )*"
    r"(?:(?:can|could|would) (?:you|u|someone|somebody|anyone|anybody) (?:please |pls |plz )?)?"
    r"(?:(?:tell|show) me|say|i (?:want|would like|'d like|wanna) to (?:know|understand)|do you know|"
    r"i(?:'m| am) (?:wondering|curious)(?: about)?|i wonder|"
    r"(?=explain )|(?:pls|plz|please) )? ?"
)
# Chat that trails a question without changing it: "what's lora thx", "explain attention to me".
_TRAILING = re.compile(
    rf"(?:[,!]? (?:{SIGN_OFF}|to me|for me|simply|briefly|in simple terms|in plain english|real quick|quickly))+$"
)
# "how do diffusion models work", "how does it work": how a thing works, not how to do something
_HOW_IT_WORKS = re.compile(r"how (?:does|do|did) .+ work$")
# The topic first, then the question about it: "tokenization, what is it" -> "what is tokenization";
# "diffusion models how do they work" -> "how do diffusion models work".
_TOPIC_FIRST = re.compile(
    r"^(?P<topic>[\w'.-]+(?: [\w'.-]+){0,3}?)[,:;]?(?: [-–—])? "
    r"(?P<verb>what (?:is|are|does|do)|how (?:does|do)) (?:it|they|that|this|those|these)(?P<rest>(?: work| do| mean)?)$"
)
# ... a topic, not a question or a clause before it: "what is rag and how does it work"
_NOT_A_TOPIC = frozenset("what how why which who when where and or but is are does do did can".split())
# An embedded question turned back round: "what a token is" -> "what is a token".
_EMBEDDED_WHAT = re.compile(r"^what ((?:an? |the )?[\w' -]+?) (is|are|means|does)$")


def _topic_first(text: str) -> re.Match[str] | None:
    """ "tokenization, what is it": a topic named before the question about it."""
    match = _TOPIC_FIRST.match(text)
    topic = match["topic"].split() if match else []
    if topic and not set(topic) & _NOT_A_TOPIC and not all(word in STOPWORDS for word in topic):
        return match
    return None


def names_its_topic(question: str) -> bool:
    """ "diffusion models, how do they work": the "they" is the topic just named, not the last one."""
    return _topic_first(" ".join(question.casefold().split()).strip(" ?!.")) is not None


def _plain(question: str) -> str:
    """The question folded, without its lead-in or asides in brackets (the spelled-out acronyms
    retrieval adds), an embedded "what X is" turned round."""
    text = _without_asides(question).casefold().strip(" ?!.")
    text = _TRAILING.sub("", _LEAD_IN.sub("", text, count=1)).replace("explain to me ", "explain ", 1)
    text = re.sub(r"^help me understand ", "explain ", text)
    text = re.sub(r"^what (?:exactly|actually|really) (?=is |are |does |do )", "what ", text)  # "what exactly is"
    text = re.sub(r"^what (?:do|does) (?:people|they|you|we|experts) mean by ", "what is ", text)
    text = re.sub(r"^(?:explain|describe) (?=(?:what|how|why|when|who) )", "", text)
    topic_first = _topic_first(text)
    if topic_first:
        text = f"{topic_first['verb']} {topic_first['topic']}{topic_first['rest']}"
    return _EMBEDDED_WHAT.sub(
        lambda m: f"what {'does' if m[2] == 'means' else m[2]} {m[1]}" + (" mean" if m[2] == "means" else ""), text
    )


def question_type(question: str) -> QuestionType:
    text = _plain(question)
    for kind, pattern in _QUESTION_TYPES:
        if pattern.search(text) and (
            kind != "compare" or not text.startswith(("what is", "what's", "define")) or "difference" in text
        ):
            return kind
    return "other"


# A sum to work out: "what's 2+2", "solve x^2 - 5x + 6 = 0"
_ARITHMETIC = re.compile(
    r"(?:(?:what(?:'s| is)|whats|calculate|compute|solve|how much is)\s*)?(?=[^a-z]*\d)(?=.*[-+*/×÷^=])[-+*/×÷^=()\d\sx.,]+"
)
_BARE_FILLER = frozenset({"a", "an", "the", "pls", "plz", "please"})


def _is_bare_name(question: str) -> bool:
    """ "embeddings?", "gradient descent": a name alone, which asks what it is."""
    words = _plain(question).split()
    return 0 < len(words) <= 3 and not any(word in STOPWORDS and word not in _BARE_FILLER for word in words)


def subject_of(question: str) -> str:
    """What a what-is question asks about: "what is a transformer?" -> "transformer"; "what's a
    neuron in a neural network" -> "neuron"."""
    text = _plain(question)
    text = _SUBJECT.sub("", text, count=1)
    text = _SUBJECT_TAIL.sub("", text).strip(" ?!.\"'")
    # "temperature in llms", "temperature and why does my output change": the thing before them
    head = re.split(
        r" (?:in|with|for|on|when|that|used|from) | and (?=(?:why|how|what|when|where|is|are|does|do|can) )",
        text,
        maxsplit=1,
    )[0]
    return head if head else text


_ASKING = re.compile(
    r"^(?:(?:how|why|when|where|which|who|what|can|could|do|does|did|is|are|should|would|will|tell me|"
    r"about|so|and|ok)\s+)+(?:(?:do|does|did|can|could|should|would|is|are|was|were|i|you|we|they|people|one|"
    r"the|an?|to)\s+)*"
)


def topic_of(question: str) -> str:
    """What a question is about, for follow-ups to lean on: a what-is question's subject; else the
    question without its asking words, "how do you evaluate an llm" -> "evaluate an llm"."""
    if question_type(question) == "what-is":
        return subject_of(question)
    text = _ASKING.sub("", _plain(question), count=1)
    text = re.sub(r"\s+(?:do|work|works|mean|happen|exactly)$", "", text)
    return " ".join(text.split()[:5])


_SIDES = (
    re.compile(_CHOICE),
    re.compile(r"^(?:so )?(?:what(?:'s| is| are) )?(?:the )?(?:main )?differences? between (.+?) and (.+)$"),
    re.compile(r"^(?:how (?:is|are|does|do) )(.+?) (?:differ(?:ent)?|compare) (?:from|to|with) (.+)$"),
    re.compile(r"^(?:compare )?(.+?) (?:vs\.?|versus|compared (?:to|with)) (.+)$"),
)


def compare_sides(question: str) -> tuple[str, str] | None:
    """The two things a comparison asks about: "gan vs diffusion" -> ("gan", "diffusion")."""
    text = _plain(question)
    for pattern in _SIDES:
        match = pattern.match(text)
        if match:
            sides = tuple(re.sub(r"^(?:an? |the )", "", side).strip(" ?") for side in match.groups())
            first, second = (set(terms(side)) for side in sides)
            # "AI vs generative AI": one side inside the other is not two things to define
            if all(0 < len(side.split()) <= 4 for side in sides) and not (first <= second or second <= first):
                return sides[0], sides[1]
    return None


_IS_X_A_Y = re.compile(
    r"^(?:is|are) (?:an? |the )?(.+?) (?:an?|the|just|really|actually|basically|also|like|same|better|bigger) "
)


def _yes_no_subject(question: str) -> str:
    """ "is a GAN a type of neural network?" -> "gan": whether X is a Y is answered by what X is."""
    match = _IS_X_A_Y.match(_plain(question))
    return match[1] if match and len(match[1].split()) <= 3 else ""


class EmptyQuestion(UserError, ValueError):
    def __init__(self) -> None:
        super().__init__("The question is empty: type a question about the slides.")


@dataclass(frozen=True, slots=True)
class Source:
    slide: int
    title: str
    section: str
    score: float

    def to_dict(self) -> dict:
        return {"slide": self.slide, "title": self.title, "section": self.section, "score": round(self.score, 4)}

    @property
    def citation(self) -> str:
        return f"Slide {self.slide} · {self.title} — {self.section}"


@dataclass(frozen=True, slots=True)
class Answer:
    question: str
    text: str
    confident: bool
    sources: list[Source] = field(default_factory=list)
    kind: AnswerKind = "answer"
    shown: tuple[str, ...] = ()  # ids of the units quoted, so "tell me more" can go on from them

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "answer": self.text,
            "kind": self.kind,
            "confident": self.confident,
            "sources": [source.to_dict() for source in self.sources],
        }

    @property
    def slides(self) -> list[int]:
        """Cited slide numbers, best first, without repeats."""
        return list(dict.fromkeys(source.slide for source in self.sources))


DECLINE_TEXT = (
    "The slides don't cover that, so I won't guess. Type `/deck` to see the topics they do cover, "
    "or ask me about one of them."
)


@dataclass(frozen=True, slots=True)
class _Choice:
    """What one slide contributes to an answer: the units quoted and the passage they came from."""

    scored: ScoredPassage
    units: list[Unit]
    faq: bool = False
    lead: float | None = None  # the lead unit's score, when sentences were ranked for it


class Answerer:
    """Turns a question into an :class:`Answer`. One instance serves every front end."""

    def __init__(self, retriever: Retriever, rule: ConfidenceRule = DEFAULT_RULE) -> None:
        self.retriever = retriever
        self.rule = rule
        self._by_slide: dict[int, list[Passage]] = {}
        self._position = {p.id: i for i, p in enumerate(retriever.passages)}
        for passage in retriever.passages:
            self._by_slide.setdefault(passage.slide, []).append(passage)
        # The deck's names of two or more words, none of them a stopword ("stable diffusion", "github copilot")
        self._deck_names = {
            " ".join(words)
            for name in retriever.name_phrases
            if len(words := re.findall(r"[a-z0-9]+", name)) > 1 and not any(word in STOPWORDS for word in words)
        }
        self._squeezed_names = {name.replace(" ", "") for name in self._deck_names}  # "huggingface"
        # Every word of the deck as written, without hyphens and dots ("gpt4o"): versions and sizes it names
        self._deck_tokens = {
            _squeezed(t) for p in retriever.passages for t in re.findall(r"[\w.-]+", p.text.casefold())
        }
        self._deck_versions = {
            _squeezed(m[0]) for p in retriever.passages for m in _NAMED_VERSION.finditer(p.text.casefold())
        }
        # Each slide's own subject: the terms of its title no other title has ("prompt", "copyright")
        titles = {p.slide: set(terms(p.title)) for p in retriever.passages}
        shared = collections.Counter(t for title in titles.values() for t in title)
        self._subjects = {slide: {t for t in title if shared[t] == 1} for slide, title in titles.items()}
        # Each slide's sub-headings as terms: a key concept the slide names ("Overlap metrics: BLEU
        # and ROUGE") is one it defines, however rare its name.
        self._headings: dict[int, list[set[str]]] = {}
        for passage in retriever.passages:
            headings = {u.heading for u in retriever.units.get(passage.id, []) if u.heading}
            self._headings.setdefault(passage.slide, []).extend(set(terms(h)) for h in sorted(headings))

    # ------------------------------------------------------------------ entry points

    def answer(
        self,
        question: str,
        mode: Mode = "hybrid",
        *,
        focus: int | None = None,
        exclude: frozenset[str] = frozenset(),
        seen: frozenset[str] = frozenset(),
        stress: frozenset[str] = frozenset(),
    ) -> Answer:
        """Answer ``question``. ``focus`` favours one slide (a follow-up's topic); ``exclude`` lists
        units never to quote ("tell me more"), ``seen`` units already shown, quoted only when nothing
        new answers as well (a follow-up's "why is that a problem?"); ``stress``, the terms a
        follow-up adds to its topic ("and for code?"), which the sentence quoted should have."""
        asked = " ".join(question.split())  # the learner's words, kept in the answer
        if not asked:
            raise EmptyQuestion()
        question = self.retriever.prepare(asked)  # what retrieval and composition read
        if (
            _is_bare_name(question)
            and tuple(terms(spelled := self.retriever.spelled(question))) in self.retriever.phrases
        ):
            question = f"what is {spelled}"  # one of the deck's phrases: searched as the question it stands for
        if _ARITHMETIC.fullmatch(_plain(question)):
            return Answer(asked, DECLINE_TEXT, False, kind="decline")  # "what's 2+2": not the slides' subject
        retrieval = self.retriever.retrieve(question, k=8, mode=mode)
        results = retrieval.results
        if not results:
            return Answer(
                asked, "The slide deck is empty, so there is nothing to answer from yet.", False, kind="decline"
            )
        evidence = self._evidence(retrieval)
        if focus is not None or self._names_a_deck_name(question):
            # the conversation's topic, or a name from the deck ("Stable Diffusion"), says which sense
            # is meant: "who made it?" after CLIP is not about paper clips
            evidence = (*evidence[:2], -1.0)
        verdict = self.rule.judge(*evidence)
        # "more tokens in my arcade game" is about arcades: no part of it is asked of the slides
        rescue = verdict != "partial" and not self.rule.meant_elsewhere(*evidence)
        outside = self._outside_the_deck(question) if rescue else None
        unnamed = ""  # the tool or place the deck never names, when the rest of the question is answered
        whole = question  # what no slide settles is read from all of it ("… in the UK")
        if outside is not None:  # "a RAG pipeline with Elasticsearch": RAG from the slides, not the tool
            question, retrieval, unnamed = outside
            results, verdict = retrieval.results, "partial"
        qtype = question_type(question)
        if focus is not None and verdict == "partial" and results[0].passage.slide == focus:
            verdict = "answer"  # a follow-up about the slide under discussion
        if (
            verdict == "partial"
            and not unnamed
            and qtype == "what-is"
            and self._heads_a_concept(question, results[0].passage.slide)
        ):
            verdict = "answer"  # "what is ROUGE?": a name the embedding model hardly knows, but a slide defines
        if verdict == "decline" and self._advice_on_the_decks_subjects(question, evidence, results[0].passage.slide):
            verdict = "partial"  # "ChatGPT Plus or Claude Pro?": what the slides say of them, not a verdict
        if verdict == "decline":
            return Answer(asked, DECLINE_TEXT, False, kind="decline")
        if focus is not None:  # the topic's slide wins unless another is clearly better
            boosted = [replace(r, score=r.score + FOCUS_BONUS) if r.passage.slide == focus else r for r in results]
            results = sorted(boosted, key=lambda r: -r.score)
        choices = self._choose(question, qtype, retrieval, results, exclude, seen, stress)
        if seen and choices and all(u.id in seen for choice in choices for u in choice.units):
            # Everything chosen was just shown: what else the same slide says, if anything, rather
            # than a repeat; but a repeat rather than another slide's answer to another question, or
            # than new words that answer much worse ("when did it start?" after the EU AI Act).
            fresh = self._choose(question, qtype, retrieval, results, exclude | seen, seen, stress)
            if (
                fresh
                and fresh[0].scored.passage.slide == choices[0].scored.passage.slide
                and (None in (fresh[0].lead, choices[0].lead) or fresh[0].lead >= choices[0].lead - REPEAT_MARGIN)
                and not self._names_more(question, choices, fresh)
            ):
                choices = fresh
        if not choices:
            return Answer(asked, "That's everything the slides say about it.", True, kind="answer")
        if focus is None and not self._names_the_origin(question, choices[0]):
            # "who invented the internet", "who is the father of AI": the history slide has names and
            # years, but not of that
            return Answer(asked, DECLINE_TEXT, False, kind="decline")
        specific, aside = self._specific_elsewhere(question, choices, retrieval.vector, exclude)
        choices += aside
        parts = [_render(choice) for choice in choices]
        kind: AnswerKind = verdict
        missing = unnamed or self.missing_terms(question, choices, rare_only=kind == "answer")
        # ... unless an FAQ the answer quotes asks it too ("Is it legal to train AI on copyrighted material?")
        faq = choices[0].scored.passage.question.casefold() if choices[0].faq else ""
        if self._ranks_products(question):
            beyond = "They don't rank one product against another"
        else:
            beyond = _beyond(whole, faq)
        quoted = choices[0].scored.passage
        weighs = _ADVICE_FAQ.match(quoted.question.casefold()) or (
            qtype == "compare" and quoted.section.casefold() == "comparison"
        )
        if beyond == _CASE_ADVICE and weighs and not specific and not self.missing_terms(question, choices):
            # "RAG or fine-tuning, which one should I use?": the slide weighs them itself, nothing else asked
            beyond = ""
        if kind == "answer" and (missing or beyond or specific):
            kind = "partial"  # specifics not on the slide used, or what no slide settles
        if kind == "partial":
            parts.insert(0, "The slides cover part of that. Here is what they say:")
            if unnamed:
                parts.append(f"They don't go into {unnamed}, so I won't guess about that.")
            elif beyond:  # what no slide settles says more than the words the slides lack
                parts.append(f"{beyond}, so I won't guess about that part.")
            elif missing:
                parts.append(f"They don't go into {missing}, so I won't guess about that.")
            elif specific:
                parts.append(f"They don't say more about {specific} than this, so I won't guess beyond it.")
            else:
                parts.append("They don't say more than this, so I won't guess beyond it.")
        text = "\n\n".join(parts)
        return Answer(
            asked,
            text,
            True,
            [_source(choice.scored) for choice in choices],
            kind,
            tuple(u.id for choice in choices for u in choice.units),
        )

    def _advice_on_the_decks_subjects(self, question: str, evidence: tuple[float, float, float], slide: int) -> bool:
        """ "which is better for coding, ChatGPT Plus or Claude Pro?", "my LoRA training loss goes to
        NaN, what's wrong", "should I quit my job to become a prompt engineer?": advice, a fix or a
        price about something the deck names, or about the subject of the slide found, too far from
        any passage to be answered; the slides still say what they know of it."""
        best_dense, _, elsewhere = evidence
        if self.rule.evidence(*evidence[:2]) < self.rule.named_advice or self.rule.clearly_elsewhere(
            best_dense, elsewhere
        ):
            return False  # far from the deck, or clearly about another subject ("best restaurants in Paris")
        named = (
            self._names_a_name(question)
            or self._names_a_deck_name(question)
            or bool(set(self.retriever.query_terms(question)) & self._subjects[slide])
            # two words of the found slide's headings: "voice … sounds" on the audio slide ("### Voice
            # cloning", "### Music and sound for creators"); one shared word is too often "free" or "train"
            or len(set(self.retriever.query_terms(question)) & set().union(*self._headings.get(slide, []))) >= 2
            or _MODEL_SIZE.search(question) is not None
        )
        beyond = _beyond(question)
        # the future of a job is the subject of a slide however the job is named ("radiologists")
        return (named or beyond == _JOBS) and (beyond not in ("", _OWN_CASE) or self._ranks_products(question))

    def _names_the_origin(self, question: str, choice: _Choice) -> bool:
        """Whether the passage quoted names what a who-made-it or when-was-it-made question asks about
        (true for any other question). "gans (generative adversarial networks)" counts as named when
        the words retrieval spelled it out as are."""
        origin = _ORIGIN.match(_plain(question))
        if origin is None:
            return True
        passage = choice.scored.passage
        said = set(terms(" ".join([passage.title, passage.question, *(f"{u.heading} {u.text}" for u in choice.units)])))
        spelled_out = {word.casefold(): long for word, long in re.findall(r"([\w-]+) \(([^()]*)\)", question)}

        def named(word: str) -> bool:
            long = spelled_out.get(word)
            return set(self.retriever.query_terms(word)) <= said or (long is not None and set(terms(long)) <= said)

        return all(named(word) for word in origin["subject"].split())

    def _names_a_name(self, text: str) -> bool:
        """``text`` names a tool, product or place the deck names ("Claude", "DALL-E 3"; "llama-2-7b"
        names Llama; "huggingface" names Hugging Face)."""
        return any(
            part in self.retriever.names or part in self._squeezed_names
            for word in re.findall(r"[A-Za-z][\w.-]*[A-Za-z0-9]", text.casefold())
            for part in (word, *word.split("-"))
        )

    def _names_a_deck_name(self, question: str) -> bool:
        """The question names one of the deck's names of two or more words ("Stable Diffusion")."""
        phrase = _phrase(question)
        return any(f" {name} " in phrase for name in self._deck_names)

    def _heads_a_concept(self, question: str, slide: int) -> bool:
        """A what-is question's subject is named in one of the slide's sub-headings."""
        subject = set(self.retriever.query_terms(subject_of(question)))
        return bool(subject) and any(subject <= heading for heading in self._headings.get(slide, []))

    def _names_more(self, question: str, shown: list[_Choice], fresh: list[_Choice]) -> bool:
        """Whether what was shown names a rare word of the question that the new words lack ("is
        Chroma one of them?": the sentence listing Chroma, again, not another about vector search)."""

        def rare_terms(choices: list[_Choice]) -> set[str]:
            said = set(terms(" ".join(u.text for choice in choices for u in choice.units)))
            return {
                t
                for t in self.retriever.query_terms(question)
                if t in said and 1 <= self.retriever.document_frequency(t) <= RARE_PASSAGES
            }

        return bool(rare_terms(shown) - rare_terms(fresh))

    def _ranks_products(self, question: str) -> bool:
        """ "is ChatGPT better than Claude?": two names the deck mentions, weighed against each other;
        "should I learn PyTorch or TensorFlow?": a choice between two tools the deck at most names."""
        names, phrases = self.retriever.names, self.retriever.name_phrases
        match = _BETTER_THAN.search(question) or _EITHER_BETTER.match(_plain(question))
        if match is not None:
            return all(side.casefold() in phrases or self._names_a_name(side) for side in match.groups())
        plain = _plain(question)
        asked = plain.rpartition(", ")[2]  # "for an agent that books flights, should I use GPT-4o or Claude?"
        choice = re.match(_CHOICE, plain) or re.match(_CHOICE, asked) or _VERSUS.match(plain)
        if choice is None:
            return False
        # "faiss or pinecone for my rag app": the two tools, not the case they are for
        sides = [re.sub(r"^(?:learn|try|buy|get|use) ", "", side) for side in choice.groups()]
        sides[1] = re.sub(r" (?:for|in|with|on) (?:my|our|a|an|the) .+$", "", sides[1])
        if all(self._names_a_product(side) for side in sides):
            return True  # "Sora or Runway", however often the deck mentions them
        frequency = self.retriever.document_frequency
        rare = all(frequency(term) <= RARE_PASSAGES for side in sides for term in self.retriever.query_terms(side))
        # a tool the deck names, or one it never mentions ("ElevenLabs or Play.ht")
        return rare and any(word in names or not frequency(stem(word)) for side in sides for word in side.split())

    def _names_a_product(self, text: str) -> bool:
        """``text`` names a product the deck names: a name it writes as a word ("Claude", "ChatGPT")
        or with a version ("GPT-4o"), not as an acronym of a method ("RAG", "LoRA")."""
        names = self.retriever.names
        return any(
            re.match(r"[A-Z][a-z]{2}|.*\d", names[word]) for word in re.findall(r"[\w.-]+", text) if word in names
        )

    def _outside_the_deck(self, question: str) -> tuple[str, Retrieval, str] | None:
        """ "how do I set up a RAG pipeline with Elasticsearch": a question the deck answers, and a
        tool or place it never mentions. The question without that part, its retrieval, and the
        words the deck lacks; None when the rest is not answered with confidence either."""
        match = _OUTSIDE_TAIL.search(question)
        if match is None:
            return None
        core = question[: match.start()].strip()
        unknown = [
            word
            for word in re.findall(r"[A-Za-z0-9][\w.-]*[A-Za-z0-9]|[A-Za-z0-9]", match[1])
            if word.casefold() not in STOPWORDS | CHAT_FILLER
            and (
                not any(self.retriever.document_frequency(t) for t in self.retriever.query_terms(word))
                # a dotted name the deck never writes, whatever its parts: "llama.cpp", "node.js"
                or ("." in word and _squeezed(word.casefold()) not in self._deck_tokens)
            )
        ]
        if not unknown or len(core.split()) < 3:
            return None
        retrieval = self.retriever.retrieve(core, k=8)
        top = retrieval.results[: self.rule.passages]
        if not top or self.judge(retrieval) != "answer" or max(s.dense for s in top) < self.rule.outside_core_dense:
            return None
        return core, retrieval, _listed(list(dict.fromkeys(unknown))[:3])

    def _section_passage(self, slide: int, heading: str) -> Passage | None:
        return next((p for p in self._by_slide.get(slide, []) if p.section.casefold() == heading.casefold()), None)

    def section(self, slide: int, heading: str, question: str = "") -> Answer | None:
        """A slide's section quoted whole (In Plain Words, Example), as an answer about that slide."""
        passage = self._section_passage(slide, heading)
        if passage is None:
            return None
        body = shorten(_markdown(passage.text), MAX_ANSWER_CHARS)
        text = f"{body}\n— *Slide {passage.slide} · {passage.title} — {passage.section}*"
        units = tuple(u.id for u in self.retriever.units.get(passage.id, []))
        source = Source(passage.slide, passage.title, passage.section, 1.0)
        return Answer(question or heading, text, True, [source], "answer", units)

    def assess(self, question: str) -> tuple[str, int | None]:
        """How the deck covers a question (answer, partial or decline) and its best slide, without
        composing an answer: one retrieval."""
        question = self.retriever.prepare(" ".join(question.split()))
        retrieval = self.retriever.retrieve(question, k=self.rule.passages) if question else None
        if retrieval is None or not retrieval.results:
            return "decline", None
        return self.judge(retrieval), retrieval.results[0].passage.slide

    def judge(self, retrieval: Retrieval) -> str:
        """answer, partial or decline: the one confidence rule on this question's evidence."""
        return self.rule.judge(*self._evidence(retrieval))

    def _evidence(self, retrieval: Retrieval) -> tuple[float, float, float]:
        """Best dense cosine, lexical coverage and closeness to other subjects: what the rule reads."""
        top = retrieval.results[: self.rule.passages]
        coverage = self.retriever.coverage(retrieval.question, [s.position for s in top])
        return max(s.dense for s in top), coverage, self.retriever.elsewhere(retrieval.vector)

    def _specific_elsewhere(
        self, question: str, choices: list[_Choice], vector, exclude: frozenset[str]
    ) -> tuple[str, list[_Choice]]:
        """ "which GPU do I need to run a 70B model?" answered from slide 21: slide 9's sentence that
        names "70B" as well, rather than saying the slides don't go into it. A specific (a word with a
        digit, or a name) that the chosen slides lack and at most RARE_PASSAGES passages use; the word
        as the deck writes it and the sentence's choice, or nothing."""
        known = self._terms_of_slides(choices)
        for word in re.findall(r"[A-Za-z0-9][\w-]*", question):
            folded = word.casefold()
            term = stem(folded)
            if term in known or not self._rare_specific(folded):
                continue
            best: tuple[float, int, Unit] | None = None
            for position, passage in enumerate(self.retriever.passages):
                if term not in self.retriever.term_sets[position]:
                    continue
                cosines = self.retriever.unit_scores(passage.id, vector)
                for unit, cosine in zip(self.retriever.units[passage.id], cosines, strict=True):
                    if unit.id not in exclude and term in terms(unit.text) and (best is None or cosine > best[0]):
                        best = (float(cosine), position, unit)
            if best is not None:
                cosine, position, unit = best
                passage = self.retriever.passages[position]
                choice = _Choice(ScoredPassage(passage, cosine, cosine, 0.0, None, position), [unit])
                return self.retriever.names.get(folded, word), [choice]
        return "", []

    def _rare_specific(self, folded: str) -> bool:
        """A number or a name ("70b", "langchain") that at most RARE_PASSAGES passages use."""
        specific = any(c.isdigit() for c in folded) or folded in self.retriever.names
        return specific and 1 <= self.retriever.document_frequency(stem(folded)) <= RARE_PASSAGES

    def _unnamed_version(self, folded: str) -> bool:
        """A version or size ("gpt-5", "a100", "13b", "1e-3") that the deck never writes."""
        return _VERSION.fullmatch(folded) is not None and _squeezed(folded) not in self._deck_tokens

    def _terms_of_slides(self, choices: list[_Choice]) -> set[str]:
        """Every stemmed term of the slides the choices quote."""
        known: set[str] = set()
        for slide in {choice.scored.passage.slide for choice in choices}:
            for passage in self._by_slide.get(slide, []):
                known |= self.retriever.term_sets[self._position[passage.id]]
        return known

    def missing_terms(self, question: str, choices: list[_Choice], rare_only: bool = False) -> str:
        """The question's words that none of the slides used contain ("GPU", "70B"); with
        ``rare_only``, only numbers and names the deck uses elsewhere, in at most RARE_PASSAGES
        passages ("how do I build an agent with LangChain": slide 21 names it, slide 22 answers)."""
        known = self._terms_of_slides(choices)
        # a model the deck names, in a version it never writes: "Llama 3", "Gemini 1.5"
        missing = [
            m[0]
            for m in _NAMED_VERSION.finditer(question)
            if m[1].casefold() in self.retriever.names and _squeezed(m[0].casefold()) not in self._deck_versions
        ]
        for word in re.findall(r"[A-Za-z0-9][\w-]*", question):
            folded = word.casefold()
            if self._unnamed_version(folded):
                missing.append(word)  # "GPT-5", "A100", "13B": a version or size the deck never names
                continue
            if folded in STOPWORDS | CHAT_FILLER or len(folded) < 3 or stem(folded) in known:
                continue
            corrected = self.retriever.query_terms(folded)  # "transfomers", "attenshun": misspelt, not missing
            if corrected and all(term in known for term in corrected):
                continue
            if all(stem(part) in known for part in terms(folded)) and terms(folded):
                continue
            if rare_only and not self._rare_specific(folded):
                continue  # only specifics ("70B", "LangChain") the deck names elsewhere; not typos or slang
            missing.append(self.retriever.names.get(folded, word))
        return _listed(list(dict.fromkeys(missing))[:3])

    # ------------------------------------------------------------------ choosing what to quote

    def _choose(
        self,
        question: str,
        qtype: QuestionType,
        retrieval: Retrieval,
        results: list[ScoredPassage],
        exclude: frozenset[str],
        seen: frozenset[str] = frozenset(),
        stress: frozenset[str] = frozenset(),
    ) -> list[_Choice]:
        sides = compare_sides(question) if qtype == "compare" else None
        if sides is not None:
            both = self._sides(sides, exclude, seen)
            if both:
                return both
        first = self._lead_choice(question, qtype, retrieval, results, exclude, seen=seen, stress=stress)
        if first is None:
            return []
        choices = [first]
        best = results[0]
        if qtype == "compare":  # "X vs Y" may span two slides: the other one's best sentences
            for other in results[1:]:
                if (
                    other.passage.slide != first.scored.passage.slide
                    and other.score >= SECOND_SOURCE_RATIO * best.score
                ):
                    rest = [r for r in results if r.passage.slide == other.passage.slide]
                    second = self._lead_choice(question, qtype, retrieval, rest, exclude, max_sentences=2)
                    if second is not None:
                        choices.append(second)
                    break
        return choices

    def _sides(self, sides: tuple[str, str], exclude: frozenset[str], seen: frozenset[str]) -> list[_Choice]:
        """ "GANs vs diffusion": what each one is, from the sentences that define it (one retrieval
        per side), when the deck defines both; else nothing and the question is answered as a whole."""
        choices: list[_Choice] = []
        for side in sides:
            asked = f"what is {side}"
            retrieval = self.retriever.retrieve(asked, k=8)
            if not retrieval.results or self.judge(retrieval) != "answer":
                return []
            choice = self._lead_choice(asked, "what-is", retrieval, retrieval.results, exclude, 2, seen)
            if choice is None or (choices and {u.id for u in choice.units} & {u.id for u in choices[0].units}):
                return []  # one sentence already covers both ("BLEU … and ROUGE …")
            if not set(terms(side)) <= set(terms(" ".join(f"{u.heading} {u.text}" for u in choice.units))):
                return []  # the deck does not name it ("normal AI"): answer the question as a whole
            choices.append(choice)
        return choices

    def _faq_match(
        self,
        qtype: QuestionType,
        results: list[ScoredPassage],
        subject_terms: set[str],
        query_terms: set[str],
        exclude: frozenset[str],
    ) -> _Choice | None:
        """An FAQ whose question means what was asked answers as it stands; so does one that is
        nearly as close and clearly the best passage ("how does ChatGPT remember the conversation?"
        and "How does a chatbot remember what I said?")."""
        runner_up = next((r.score for r in results[1:] if r.passage.slide != results[0].passage.slide), 0.0)
        # The question's most specific word the deck knows: an FAQ without it asks something else
        # ("what are the limits of generative AI?" is not "What kinds of content can it produce?").
        # sorted, so that a tie between equally rare words goes the same way every run
        known = sorted(t for t in query_terms if self.retriever.document_frequency(t))
        rarest = min(known, key=self.retriever.document_frequency, default=None)
        for rank, scored in enumerate(results[:3]):
            passage = scored.passage
            clear_winner = rank == 0 and scored.score - runner_up >= FAQ_LEAD
            if (
                passage.question
                and (rarest is None or rarest in self.retriever.term_sets[scored.position])
                and scored.question_score >= (FAQ_NEAR if clear_winner else FAQ_MATCH)
                and (qtype not in ("compare", "example") or question_type(passage.question) == qtype)
                # a how or why question is not answered by an FAQ that asks what or which
                and (qtype not in ("how", "why") or question_type(passage.question) not in ("what-is", "list", "other"))
                and (
                    qtype not in ("what-is", "yes-no")
                    or (qtype == "yes-no" and not subject_terms)
                    or set(terms(_subject_or_question(passage.question))) == subject_terms
                )
            ):
                units = [u for u in self.retriever.units[passage.id] if u.id not in exclude]
                if units:
                    return _Choice(scored, units, faq=True)
        return None

    def _lead_choice(
        self,
        question: str,
        qtype: QuestionType,
        retrieval: Retrieval,
        results: list[ScoredPassage],
        exclude: frozenset[str],
        max_sentences: int = MAX_SENTENCES,
        seen: frozenset[str] = frozenset(),
        stress: frozenset[str] = frozenset(),
    ) -> _Choice | None:
        subject = subject_of(question) if qtype == "what-is" else _yes_no_subject(question) if qtype == "yes-no" else ""
        subject_terms = set(terms(subject))
        subject_phrase = _phrase(subject) if len(subject_terms) > 1 else ""
        slide_prior = WHAT_IS_SLIDE_PRIOR if qtype == "what-is" else SLIDE_PRIOR
        query_terms = set(self.retriever.query_terms(question))
        faq = self._faq_match(qtype, results, subject_terms, query_terms, exclude)
        if faq is not None:
            return faq
        # Candidates: the best slides' passages among the results, and the sections where this kind
        # of question is answered (definitions in the overview and key concepts, steps in How It Works).
        top_score = results[0].score
        leading = results[0].passage
        ahead = len(results) < 2 or top_score - results[1].score >= FAQ_ANSWER_LEAD
        leading_faq = leading.id if leading.question and ahead else None
        slides = list(dict.fromkeys(r.passage.slide for r in results))[:CANDIDATE_SLIDES]
        prior = {slide: max(r.score for r in results if r.passage.slide == slide) - top_score for slide in slides}
        candidates = {s.passage.id: s for s in results if s.passage.slide in prior}
        if qtype in ("how", "list") and (
            _ASKS_STEPS.search(question)
            # "how do I reduce hallucinations": a remedy for the subject of the slide, whose process it is
            or (_ASKS_REMEDY.search(question) and query_terms & self._subjects[slides[0]])
        ):
            # "what are the steps of RAG?": the best slide's process, whole
            process = self._section_passage(slides[0], "how it works")
            steps = [u for u in self.retriever.units.get(process.id, []) if u.kind == "step"] if process else []
            if steps and not any(u.id in exclude for u in steps):
                best = results[0]
                return _Choice(ScoredPassage(process, best.score, best.dense, 0.0, None, -1), steps)
        wanted = LEAD_SECTIONS if qtype == "what-is" else ("how it works",) if qtype == "how" else ()
        for slide in slides:
            best = next(r for r in results if r.passage.slide == slide)
            for passage in self._by_slide.get(slide, []):
                if passage.section.casefold() in wanted and passage.id not in candidates:
                    candidates[passage.id] = ScoredPassage(passage, best.score, best.dense, 0.0, None, -1)
        ranked: list[tuple[float, ScoredPassage, Unit]] = []
        for scored in candidates.values():
            passage = scored.passage
            units = self.retriever.units.get(passage.id, [])
            cosines = self.retriever.unit_scores(passage.id, retrieval.vector)
            # The best passage, an FAQ well ahead of the next: its first sentence answers its question
            # and is at least about as close as that question
            asked = scored.question_score - FAQ_ANSWER_DISCOUNT if passage.id == leading_faq else -1.0
            # ... past a bare "No.", which answers nothing on its own and is never quoted alone
            said = [(unit, float(cosine)) for unit, cosine in zip(units, cosines, strict=True)]
            said = [(unit, cosine) for unit, cosine in said if not _BARE_VERDICT.fullmatch(unit.text)]
            for index, (unit, cosine) in enumerate(said):
                if unit.id not in exclude:
                    closeness = max(cosine, asked) if index == 0 else cosine
                    score = self._unit_score(
                        unit, closeness, passage, qtype, query_terms, subject_terms, subject_phrase
                    )
                    if stress and stress & set(terms(unit.text)):
                        score += STRESS_WEIGHT  # what the follow-up adds to its topic
                    ranked.append((score + slide_prior * prior[passage.slide], scored, unit))
        if not ranked:
            return None
        # What was shown already is quoted again only when nothing new on the same slide answers as
        # well; it never sends the answer to another slide ("how do I avoid it?" after overfitting).
        best_slide = max(ranked, key=lambda item: item[0])[1].passage.slide
        lead_score, scored, lead = max(
            ((score - SEEN_PENALTY * (unit.id in seen), scored, unit) for score, scored, unit in ranked),
            key=lambda item: (item[1].passage.slide == best_slide, item[0]),
        )
        units = self.retriever.units[scored.passage.id]
        if qtype == "compare" and scored.passage.section.casefold() == "comparison":
            # "why are transformers better than RNNs": the table's sides, each under its heading
            return _Choice(scored, [u for u in units if u.id not in exclude], lead=lead_score)
        if lead.kind in ("item", "step"):
            return _Choice(scored, _whole_group(units, lead, exclude), lead=lead_score)
        if qtype == "how" and lead.group_position > 0 and _HOW_IT_WORKS.match(_plain(question)):
            # "how do diffusion models work": the paragraph that explains them from its start ("A
            # diffusion model learns to reverse…"), not its closing verdict, when it is as much about them
            opening = next(u for u in units if u.group == lead.group)
            said = query_terms & set(terms(lead.text))
            if opening.id not in exclude and said <= set(terms(opening.text)):
                lead = opening
        chosen = _sentences_from(
            units,
            lead,
            exclude,
            max_sentences,
            whole=qtype not in ("what-is", "how", "who-when"),
            reason=qtype == "why",
        )
        return _Choice(scored, chosen, lead=lead_score)

    @staticmethod
    def _unit_score(
        unit: Unit,
        cosine: float,
        passage: Passage,
        qtype: QuestionType,
        query_terms: set[str],
        subject_terms: set[str],
        subject_phrase: str = "",
    ) -> float:
        unit_terms = set(terms(f"{unit.heading} {unit.text}"))
        # a what-is answer is about its subject: "attention in transformers" is not about transformers
        wanted = subject_terms if qtype == "what-is" and subject_terms else query_terms
        score = cosine + TERM_WEIGHT * (len(wanted & unit_terms) / len(wanted) if wanted else 0.0)
        section = passage.section.casefold()
        if qtype == "what-is" or (qtype == "yes-no" and subject_terms):
            if unit.kind != "sentence":
                score -= 0.15  # a definition is a sentence, not a bullet or a step
            names_subject = bool(subject_terms) and subject_terms <= set(terms(unit.text))
            score += SUBJECT_WEIGHT * names_subject
            if names_subject and subject_phrase and subject_phrase in _phrase(unit.text):
                score += SUBJECT_WEIGHT  # "text to image" as the learner wrote it: "text-to-image systems"
            if names_subject and section in LEAD_SECTIONS:
                score += DEFINITION_WEIGHT * _definition_strength(unit.text, subject_terms)
            heading_terms = set(terms(unit.heading))
            if unit.group_position == 0 and subject_terms:
                # The first sentence under "### Next-token prediction" defines it; under "### The
                # transformer block", only when it names the subject, and less so.
                if heading_terms == subject_terms:
                    score += NAMED_HEADING_WEIGHT if len(subject_terms) > 1 else HEADING_WEIGHT
                elif names_subject and subject_terms <= heading_terms:
                    score += HEADING_WEIGHT / 2
            if _LEANS_ON_CONTEXT.match(unit.text) or _REFERS_BACK.search(unit.text[:60]):
                score -= LEANING_PENALTY  # "This is why…", "Imagine…": not how a definition starts
            if section in ("example", "applications", "how it works"):
                score -= 0.1
            elif section == "overview":
                score += 0.05  # the slide introduces its subject there
                if names_subject and subject_terms <= set(terms(passage.title)):
                    score += 0.05  # ... and the slide is about it
        elif qtype == "example" and section == "example":
            score += DEFINITION_WEIGHT
        elif qtype == "example" and _CONCRETE.search(unit.text):
            score += DEFINITION_WEIGHT / 2  # a case in point: "a 2023 Bloomberg analysis…", "such as…"
        elif qtype == "who-when" and _NAMES_OR_DATES.search(unit.text):
            score += DEFINITION_WEIGHT  # "who invented it?": the sentence with the names and the year
        elif qtype == "how" and unit.kind == "step" and section != "example":
            score += STEP_WEIGHT  # the process's steps, not a worked example's
        elif qtype == "list" and unit.kind in ("item", "step"):
            score += STEP_WEIGHT  # "what are the main risks": a list answers a list
        elif qtype == "compare" and section == "comparison":
            score += 0.05
        elif qtype in ("why", "yes-no") and unit.kind != "sentence":
            score -= 0.1  # a reason or a verdict is a sentence, not a bullet
        elif qtype == "why" and unit.heading.casefold().startswith("why") and query_terms & set(terms(unit.heading)):
            score += HEADING_WEIGHT / 2  # under "### Why hallucinations happen"
        if section == "example" and qtype != "example":
            score -= 0.05  # worked examples illustrate; they rarely answer
        if section == "applications" and qtype == "how":
            score -= 0.1  # what it is used for, not how it works
        if qtype == "how" and _REMEDY_HEADING.search(unit.heading) and query_terms & set(terms(unit.heading)):
            # "how do I avoid overfitting": under "### Detecting and preventing overfitting"
            score += HEADING_WEIGHT / 2
        if section == "comparison" and qtype != "compare":
            score -= 0.2  # a table's cells ("Stable training") are fragments, not answers
        if section == "in plain words":
            score -= 0.05  # the plain version is for "simpler"; the slide's own words come first
        if _ABOUT_THE_SLIDE.match(unit.text) or (unit.kind == "item" and _OBJECTIVE.match(unit.text)):
            score -= 0.2  # "This slide introduces…", "- How inputs are converted…": what the slide covers
        return score


_DEFINES = re.compile(
    r"^(?:[\w\"“”'()\-–, ]{0,80}?)\b(is|are|means|refers to|describes|lets|turns|stands for|measures|trains|"
    r"computes|generates|creates|produces|connects|builds|learns|predicts|maps|converts|takes|uses)\b",
    re.IGNORECASE,
)


def _definition_strength(sentence: str, subject_terms: set[str]) -> float:
    """1 when the sentence's own subject is the thing asked about and a defining verb follows ("A
    GAN trains…", "Backpropagation is…", "The transformer, introduced in 2017, is…"); 0.5 when it
    defines something else near the start ("Each token is then…"); 0 otherwise."""
    match = _DEFINES.match(sentence)
    if match is None or sentence.lower().startswith(("it ", "this ", "that ", "they ")):
        return 0.0
    if sentence[match.end() :].lstrip().lower().startswith("like "):
        return 0.0  # "RAG is like an open-book exam" is a comparison, not a definition
    before_verb = sentence[: match.start(1)].split(",")[0]
    opening = set(terms(before_verb)) - _DETERMINER_TERMS
    extra = opening - subject_terms
    if (
        subject_terms
        and subject_terms <= opening
        and len(extra) <= 1
        and not any(c.isdigit() for t in extra for c in t)
    ):
        return 1.0  # not "Temperature 0 is…": one value of the thing, not the thing
    return 0.5 if subject_terms <= set(terms(" ".join(sentence.split()[:6]))) else 0.0


_LEANS_ON_CONTEXT = re.compile(
    r"^(?:It|This|That|These|They|Those|Such|Its|Their|Imagine|Suppose|For example|For instance|Likewise|"
    r"Because|So|But|And|Also|Then)\b"
)

_CONCRETE = re.compile(r"\b(?:1[89]\d\d|20\d\d)\b|\b(?:for example|for instance|such as|e\.g\.)", re.IGNORECASE)
_NAMES_OR_DATES = re.compile(
    r"\b(?:1[89]\d\d|20\d\d)\b|\b(?:invented|introduced|created|developed|proposed|published|written) by\b"
)
_ASKS_STEPS = re.compile(
    r"\b(?:steps?|stages?|process|walk me through|step by step)\b|"
    r"^how (?:do|can|would|should) (?:i|you|we) (?:build|make|create|set up|implement|deploy)\b"
)
# "how do I reduce hallucinations": a remedy, which a heading such as "Preventing overfitting" or the
# process of a slide about the thing gives
_REMEDY_HEADING = re.compile(r"\b(?:prevent|avoid|reduc|fix|mitigat|guard)\w*", re.IGNORECASE)
_ASKS_REMEDY = re.compile(r"^how (?:do|can|could|should) (?:i|you|we) (?:reduce|prevent|avoid|stop|mitigate|limit)\b")
# A trailing "with Elasticsearch", "on AWS", "in AutoCAD", "for my Slack bot".
_OUTSIDE_TAIL = re.compile(
    r"\s(?:with|on|in|using|via|inside|into|for|to(?= my | our ))(?: my| our| an?| the)? ((?:[^,;.!?]|\.(?=\w))+?)\??$",
    re.I,
)
# "is Gemini or GPT better for translating?"
_EITHER_BETTER = re.compile(r"^(?:is|are|which is) ([\w.-]+(?: [\w.-]+)?) or ([\w.-]+(?: [\w.-]+)?) better\b")
# "Suno vs Udio for a song?", "ElevenLabs or Play.ht for voice cloning?": two things named first
_VERSUS = re.compile(r"^([\w.-]+(?: [\w.-]+)?) (?:vs\.?|versus|or) ([\w.-]+(?: [\w.-]+)?)(?= for\b|,|\?|$)")
# "is ChatGPT better than Claude", "is GPT-4 smarter than Gemini": the two things weighed.
_BETTER_THAN = re.compile(
    r"([\w.-]+(?: [\w.-]+)?) (?:better|worse|smarter|faster|bigger|larger|smaller|cheaper|more accurate|more powerful) than ([\w.-]+(?: [\w.-]+)?)",
    re.IGNORECASE,
)
# A model's version or a size: "gpt-4o", "llama3", "a100", "13b", "40gb", "1e-3"; not leetspeak ("w8ts"),
# decades or ordinals ("60s", "1st")
_VERSION = re.compile(
    r"[a-z]{2,}-?\d[\w.-]*|[a-z]-?\d+(?:[.-][\w.-]*)?|(?!(?:1[89]|20)?\d0s$|\d+(?:st|nd|rd|th)$)\d+(?:\.\d+)?(?:[a-z]{1,3}|e-?\d+)"
)
_NAMED_VERSION = re.compile(r"\b([A-Za-z][\w-]*) (\d+(?:\.\d+)?)(?![\w.])")
_ABOUT_THE_SLIDE = re.compile(r"^(?:This slide|Slide \d+ (?:introduces|covers|explains))\b")
_OBJECTIVE = re.compile(r"^(?:How|Why|What|When|Which|The way)\b")
_REFERS_BACK = re.compile(r"\b(?:the same|likewise|similarly|as well|as above)\b", re.IGNORECASE)


def _listed(items: list[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    return " and ".join([", ".join(items[:-1]), items[-1]]) if len(items) > 1 else "".join(items)


def _squeezed(word: str) -> str:
    """A word without its hyphens and dots: "GPT-4o" and "gpt4o" are one name."""
    return re.sub(r"[-.]", "", word)


def _phrase(text: str) -> str:
    """Words only, lower case, single-spaced, padded: for "is this phrase in that sentence"."""
    return f" {' '.join(re.findall(r'[a-z0-9]+', text.casefold()))} "


_DETERMINER_TERMS = frozenset(terms("each every one two any such many most modern"))


def _subject_or_question(question: str) -> str:
    """What an FAQ's question asks about, to compare with the learner's: "Is generative AI the same
    as ChatGPT?" does not answer "is ChatGPT a transformer?"."""
    qtype = question_type(question)
    if qtype == "what-is":
        return subject_of(question)
    return (_yes_no_subject(question) or question) if qtype == "yes-no" else question


def _whole_group(units: list[Unit], lead: Unit, exclude: frozenset[str]) -> list[Unit]:
    group = [u for u in units if u.group == lead.group and u.id not in exclude]
    if len(group) > MAX_LIST_ITEMS:
        start = max(0, min(group.index(lead), len(group) - MAX_LIST_ITEMS))
        group = group[start : start + MAX_LIST_ITEMS]
    # A list introduced by a sentence ("Three signals matter:") keeps its introduction.
    before = [u for u in units if u.position < group[0].position and u.id not in exclude]
    if before and before[-1].kind == "sentence" and before[-1].text.endswith(":"):
        group.insert(0, before[-1])
    return group


def _sentences_from(
    units: list[Unit], lead: Unit, exclude: frozenset[str], limit: int, whole: bool = False, reason: bool = False
) -> list[Unit]:
    """The lead sentence and the ones after it in its paragraph, in the deck's order; a lead that
    leans on the sentence before ("It…", "This…") brings that one along. With ``whole``, a
    paragraph of at most ``limit`` + 1 sentences is quoted whole when the lead is among its first two
    (with ``reason``, wherever it is): an explanation often needs the sentence before the one that
    matched best, but an answer that ends a paragraph would otherwise come last (a what-is or how
    answer must lead with its answer, so it never does this)."""
    paragraph = [u for u in units if u.group == lead.group and u.id not in exclude]
    start = paragraph.index(lead)
    if (
        whole
        # the answer stays near the top, the sentence before it setting it up; a reason may need them all
        and (start <= 1 or reason)
        and 1 < len(paragraph) <= limit + 1
        and sum(len(u.text) for u in paragraph) <= MAX_ANSWER_CHARS
    ):
        return paragraph
    if start > 0 and re.match(r"^(It|This|That|These|They|Those|Such|Its|Their)\b", lead.text):
        # "This sycophancy makes…" leans on what came before: from the paragraph's start when the
        # lead still fits, else from the sentence before it
        start = 0 if start < limit else start - 1
    chosen = paragraph[start : start + limit]
    while len(chosen) > 1 and sum(len(u.text) for u in chosen) > MAX_ANSWER_CHARS:
        chosen.pop()
    if len(chosen) < 2:  # a one-sentence paragraph: the next paragraph under the same heading
        following = [
            u
            for u in units
            if u.position > chosen[-1].position
            and u.kind == "sentence"
            and u.heading == lead.heading
            and u.id not in exclude
        ]
        chosen += following[: 2 - len(chosen)]
    return chosen


def _markdown(text: str) -> str:
    """Slide Markdown as chat text: ``### Heading`` lines become bold."""
    return re.sub(r"^### (.+)$", r"**\1**", text, flags=re.MULTILINE)


# An FAQ answer's opening verdict ("No.", "Only partly.", "Mostly no:"), dropped when its sentence
# is quoted for another question.
_VERDICT_WORDS = re.compile(
    r"^(?:Yes|No|Sometimes|Partly|Only unreliably|Only partly|Only partially|Mostly no|Not by itself|It can)[.,:]\s+(?=[A-Z])"
)


_BARE_VERDICT = re.compile(r"(?:Yes|No|Sometimes|Partly|Not really|Rarely|Often|Usually)[.!]?")


def _render(choice: _Choice) -> str:
    passage = choice.scored.passage
    lines: list[str] = []
    sentences: list[str] = []
    steps = 0
    headed = len({unit.heading for unit in choice.units}) > 1  # a comparison's two sides
    heading = ""
    for unit in choice.units:
        if headed and unit.heading != heading:
            if sentences:
                lines.append(" ".join(sentences))
                sentences = []
            heading = unit.heading
            lines.append(f"**{heading}**")
        if unit.kind == "sentence":
            sentences.append(unit.text)
            continue
        if sentences:
            lines.append(" ".join(sentences))
            sentences = []
        steps += unit.kind == "step"
        lines.append(f"{steps}. {unit.text}" if unit.kind == "step" else f"- {unit.text}")
    if sentences:
        lines.append(" ".join(sentences))
    body = "\n".join(lines)
    if not choice.faq:  # "No." answered the FAQ's own question, not the learner's
        body = _VERDICT_WORDS.sub("", body, count=1)
    body = shorten(body, MAX_ANSWER_CHARS)
    label = f"**{passage.question}**\n" if choice.faq else ""
    section = "" if choice.faq else f" — {passage.section}"
    return f"{label}{body}\n— *Slide {passage.slide} · {passage.title}{section}*"


def _source(scored: ScoredPassage) -> Source:
    passage = scored.passage
    return Source(passage.slide, passage.title, passage.section, scored.score)
