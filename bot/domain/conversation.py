"""The tutor's side of a conversation: a learner's message in, a front-end-neutral reply out.

Every front end (Discord, the terminal session, ``chat --json``) sends each message here and
renders the :class:`Reply`: its kind, text, cited sources, the actions to offer ("simpler",
"example", "quiz me", "new topic") and, for a feature asked for in words, the :class:`Request` to
run. The conversation remembers the topic (slide and subject) per place and learner, so "why?",
"give me an example" or "explain it simpler" follow on from the last answer.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from bot.domain.answering import Answer, Source, question_type, subject_of
from bot.domain.generation import looks_like_course_question
from bot.domain.text import words

if TYPE_CHECKING:
    from bot.domain.tutor import Tutor

ReplyKind = Literal["answer", "partial", "decline", "smalltalk", "command", "error"]
RequestName = Literal["quiz", "next", "prev", "slide", "deck", "tokenize", "generate", "reset"]

MAX_CONVERSATIONS = 10_000
CONVERSATION_TTL_S = 2 * 3600  # a topic older than this is forgotten
# Unaddressed messages this soon after the tutor's reply may be follow-ups meant for it.
FOLLOW_UP_WINDOW_S = 180
ANSWER_ACTIONS = ("simpler", "example", "quiz")
ENGLISH_NOTE = "(I answer in English: the slides are in English.)"
COURSE_QUESTION_NOTE = (
    "That's a question about the course, so here is what the slides say (generated text could be wrong):"
)
COURSE_QUESTION_NOT_COVERED = (
    "That looks like a question about the course, and I don't answer those with generated text: it "
    "could sound right and be wrong. The slides don't clearly cover it, so ask it with `/ask` (try "
    "other words), or ask your teacher. For something creative, give `/generate` a topic such as "
    "*a robot learning to paint*."
)


@dataclass(frozen=True, slots=True)
class Key:
    """Where a conversation happens and with whom: server (or "dm"), channel or thread, user."""

    place: str
    channel: str
    user: str


@dataclass(frozen=True, slots=True)
class Request:
    """A feature asked for in words ("quiz me", "go to slide 8"): the front end runs it."""

    name: RequestName
    argument: str = ""  # a slide number, the text to tokenize, or the topic to write about
    kind: str = ""  # the kind of text to generate


@dataclass(frozen=True, slots=True)
class Reply:
    kind: ReplyKind
    text: str
    sources: tuple[Source, ...] = ()
    confident: bool = False
    actions: tuple[str, ...] = ()
    request: Request | None = None

    @property
    def slides(self) -> list[int]:
        return list(dict.fromkeys(source.slide for source in self.sources))

    def to_dict(self, message: str) -> dict:
        return {
            "message": message,
            "reply": self.text,
            "kind": self.kind,
            "confident": self.confident,
            "sources": [source.to_dict() for source in self.sources],
        }

    @classmethod
    def from_answer(cls, answer: Answer, note: str = "") -> Reply:
        text = f"{answer.text}\n\n{note}" if note else answer.text
        actions = ANSWER_ACTIONS if answer.kind != "decline" else ()
        return cls(answer.kind, text, tuple(answer.sources), answer.confident, actions)


@dataclass(slots=True)
class Conversation:
    slide: int | None = None
    subject: str = ""  # what the learner is asking about: "transformer", "gradient descent"
    question: str = ""  # the last question answered
    shown: set[str] = field(default_factory=set)  # units already quoted on this topic
    updated: float = field(default_factory=time.monotonic)


class Conversations:
    """Bounded memory of conversations: the most recent ``limit``, none older than ``ttl_s``."""

    def __init__(self, limit: int = MAX_CONVERSATIONS, ttl_s: float = CONVERSATION_TTL_S) -> None:
        self.limit = limit
        self.ttl_s = ttl_s
        self._items: OrderedDict[Key, Conversation] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Key) -> Conversation:
        now = time.monotonic()
        with self._lock:
            conversation = self._items.pop(key, None)
            if conversation is None or now - conversation.updated > self.ttl_s:
                conversation = Conversation()
            conversation.updated = now
            self._items[key] = conversation
            while len(self._items) > self.limit:
                self._items.popitem(last=False)
            return conversation

    def reset(self, key: Key) -> None:
        with self._lock:
            self._items.pop(key, None)

    def peek(self, key: Key) -> Conversation | None:
        """The conversation if there is a live one, without starting one or refreshing it."""
        with self._lock:
            conversation = self._items.get(key)
        if conversation is None or time.monotonic() - conversation.updated > self.ttl_s:
            return None
        return conversation

    def __len__(self) -> int:
        return len(self._items)


# ---------------------------------------------------------------------------- reading a message

_MASKED_LINK = re.compile(r"\[([^\]]*)\]\(\s*<?[^)\s]+>?\s*\)")
_MENTION = re.compile(r"<(?:@[!&]?|#)\d+>|@(?:everyone|here)\b")
_URL = re.compile(r"<?https?://\S+>?")
_MARKUP = re.compile(r"[*_~`|>]{1,3}")


def clean_message(text: str) -> str:
    """The learner's words without markup the bot must never echo: masked links keep their text,
    mentions and bare links go, emphasis and quote markers go."""
    text = _MASKED_LINK.sub(r"\1", text)
    text = _MENTION.sub(" ", text)
    text = _URL.sub(" ", text)
    text = _MARKUP.sub("", text)
    return " ".join(text.split())


def _pattern(*alternatives: str) -> re.Pattern[str]:
    return re.compile(r"^(?:" + "|".join(alternatives) + r")$")


_SMALLTALK: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        ("greeting", r"^(?:hi+|hey+|heya|hello+|hiya|yo+|howdy|sup|what'?s up|good (?:morning|afternoon|evening)|greetings)"
                     r"(?: there)?(?: bot| tutor| everyone| all| guys)?$"),
        ("thanks", r"^(?:thanks?(?: you)?|thx|ty|tysm|cheers|thank u|many thanks|that helped|that was helpful|appreciate it)\b"),
        ("ack", r"^(?:ok(?:ay)?|k|kk|cool|nice|great|awesome|got it|gotcha|i see|makes sense|sure|alright|lol|lmao|haha+|wow|"
                r"neat|perfect|yep|yes|no|nope|fine|understood|right|oh|ah|hmm+|interesting)(?: thanks| cool| nice| ok)?$"),
        ("bye", r"^(?:bye|goodbye|see (?:you|ya)|later|good night|cya)(?: bot| tutor| later)?$"),
        ("who", r"^(?:(?:who|what) are you|are you (?:a )?(?:bot|human|real|an ai|ai|chatgpt|a person|a robot)|"
                r"what(?:'s| is) your name|who made you|is this a bot)$"),
        ("help", r"^(?:what can you do|help|help me|how do (?:i|you) use (?:you|this|this bot)|what do you do|"
                 r"how does this (?:bot )?work|commands|what are your commands|what can i ask(?: you)?)$"),
        ("lost", r"\b(?:i'?m lost|i am lost|where (?:do|should) i (?:start|begin)|how do i (?:start|begin)|i'?m new here|"
                 r"i am new here|from the beginning|i'?m confused where)\b"),
        ("empty", r"^[?!.…\s]*$"),
    )
)  # fmt: skip
_EMOJI_ONLY = re.compile(r"^[\W_]+$")
# Asking for the bot's secrets or instructions: declined whatever else the message says.
_SECRETS = re.compile(
    r"\b(?:(?:your|the bot'?s?)(?: \w+)? (?:system prompt|prompt|instructions|rules|api key|token|password|secrets?|config(?:uration)?|\.?env)|"
    r"discord_token|\.env\b|(?:print|reveal|show|leak|dump|repeat)\b.*\b(?:prompt|instructions|secrets?|token|env))"
)
SECRETS_TEXT = "I can't share that: I don't give out keys, settings or instructions. I only answer questions about the course slides."

_GENERATE = re.compile(
    r"^(?:can you |could you |please |pls )?(?:write|compose|generate|make|create|draft)(?: me)?(?: an?| some)? "
    r"(story|short story|poem|haiku|marketing copy|ad|advert|slogan|tagline|brainstorm|list of ideas|ideas|example)"
    r"(?: (?:about|on|for|of) (.+))?$"
)
_BRAINSTORM = re.compile(r"^(?:can you |let'?s |please )?brainstorm(?: some)?(?: ideas)?(?: (?:about|on|for) )?(.+)$")
_TOKENIZE = re.compile(
    r"^(?:how (?:is|are|would|does|do) )?[\"'“‘](.+)[\"'”’] (?:get |be |gets )?tokeni[sz]ed\b|"
    r"^(?:tokeni[sz]e|split into tokens|show (?:me )?the tokens (?:of|for|in))[: ]+[\"'“‘]?(.+?)[\"'”’]?$|"
    r"^how many tokens (?:is|are|in|does) [\"'“‘](.+)[\"'”’]"
)
_GOTO = re.compile(
    r"^(?:go(?: back)? to|show(?: me)?|open|jump to|take me to|skip to)(?: the)? slide (?:number )?#?(\d{1,4})$|^slide #?(\d{1,4})$"
)
_KIND_WORDS = {
    "story": "story", "short story": "story", "poem": "poem", "haiku": "poem", "marketing copy": "marketing",
    "ad": "marketing", "advert": "marketing", "slogan": "marketing", "tagline": "marketing",
    "brainstorm": "brainstorm", "list of ideas": "brainstorm", "ideas": "brainstorm", "example": "example",
}  # fmt: skip

_SIMPLER = re.compile(
    r"\b(?:simpler|simply|simple terms|plain (?:words|english)|eli5|like (?:i'?m|i am) (?:5|five|10|ten|a kid|a child|12|twelve)|"
    r"for a (?:kid|child|beginner)|dumb (?:it )?down|in simple|easier|don'?t (?:get|understand) it|too (?:hard|complicated))\b"
)
_EXAMPLE = re.compile(r"\b(?:examples?|e\.g|like what|such as|instance)\b")
# Words that may come with "example" in a request for one ("one concrete example please").
_EXAMPLE_FILLER = frozenset(
    "give show got any one concrete real world simple good quick actual exactly like an some me us please "
    "example examples eg instance such for of it that this them those these you could can".split()
)
_MORE = re.compile(
    r"^(?:tell me more|more|go on|continue|keep going|and\??|what else|anything else|more please|more details|elaborate|expand on (?:that|it)|say more)(?: about (?:it|that|this))?(?: please)?$"
)
_SAME_AS = re.compile(r"\b(?:the same(?: thing)? as|same as) (.+)$")
_BARE_WH = re.compile(r"(?:and |so |but )?(?:why|how|when|who|where)\??")
_PRONOUN = re.compile(r"\b(?:it|its|it's|that|this|they|them|those|these|their)\b")
_FOLLOW_UP_OPENERS = re.compile(
    r"^(?:and |but |so |what about|how about|and what about|why\??$|how\??$|who |when |is that|are they|is it|does it|do they|can it|how does it|how do they|why does it|why do they|why is it|why is that)"
)
_NON_ENGLISH_WORDS = frozenset(
    """que qué es el la los las un una cómo como por porque para está son del qu est une des les est-ce
    c'est quoi comment pourquoi was ist wie warum der die das ein eine und nicht sind ist's cosa che
    perché come sono il della le ce du au aux qu'est-ce est-ce bedeutet bei ki erklär erkläre
    funktioniert qué cuál cuáles sirve significa""".split()
)
_ENGLISH_WORDS = frozenset("the is are what how why does do a an of to in and can you".split())


def looks_like_question(text: str) -> bool:
    """Whether a message in an answer channel is meant for the tutor when it isn't addressed:
    a question or a request. Chatter between learners ("lol same", "see you tomorrow") is not."""
    folded = clean_message(text).casefold()
    if not folded:
        return False
    if "?" in folded or _request(folded) is not None:
        return True
    first = folded.split()[0]
    return first in {"what", "whats", "what's", "how", "why", "when", "where", "which", "who", "explain", "define",
                     "describe", "tell", "can", "could", "does", "do", "is", "are", "should", "compare"}  # fmt: skip


def is_small_talk(text: str) -> bool:
    """Whether ``Tutoring.respond`` answers ``text`` with small talk (no retrieval): front ends
    know it before their cooldowns, so small talk never gets a cooldown notice."""
    folded = clean_message(text)[:2000].casefold()
    return _request(folded) is None and _smalltalk(folded) is not None


def _smalltalk(folded: str) -> str | None:
    bare = folded.strip(" !.,~?")
    if len(bare.split()) > 8:
        return None
    for name, pattern in _SMALLTALK:
        if pattern.search(bare) and not (name == "thanks" and "?" in folded):
            return name
    if _EMOJI_ONLY.match(bare):
        return "ack"
    return None


def _request(folded: str) -> Request | None:
    bare = folded.strip(" !.?")
    bare = re.sub(r"^(?:please|pls|can you|could you|hey)\s+|\s+(?:please|pls|now)$", "", bare)
    if re.fullmatch(
        r"(?:give me a |start a |a |take a |do a )?quiz(?: me)?(?: on (?:this|it|that)(?: slide)?)?|test me|quiz time|ask me a question",
        bare,
    ):
        return Request("quiz")
    if re.fullmatch(
        r"(?:go to the |show me the |show the |the )?next(?: slide| one| page)?|(?:let'?s )?move on|continue to the next slide",
        bare,
    ):
        return Request("next")
    if re.fullmatch(
        r"(?:go (?:back )?to the |show me the |the )?(?:previous|prev|last)(?: slide| one| page)?|go back|back|back one(?: slide)?|one slide back|(?:go )?back a slide",
        bare,
    ):
        return Request("prev")
    if re.fullmatch(
        r"(?:show (?:me )?)?(?:the )?(?:deck|contents|table of contents|slides|slide list|list of slides|all (?:the )?slides)|what(?:'s| is) in the deck|what topics (?:are there|do you cover)",
        bare,
    ):
        return Request("deck")
    if re.fullmatch(r"new topic|reset|start over|/reset|forget (?:it|that)", bare):
        return Request("reset")
    if match := _GOTO.match(bare):
        return Request("slide", match[1] or match[2])
    if match := _TOKENIZE.search(folded.strip()):
        text = next(group for group in match.groups() if group)
        return Request("tokenize", text)
    if match := _GENERATE.match(bare):
        return Request("generate", (match[2] or "").strip(), _KIND_WORDS[match[1]])
    if match := _BRAINSTORM.match(bare):
        return Request("generate", match[1].strip(), "brainstorm")
    return None


def _original_case(message: str, folded_fragment: str) -> str:
    """``folded_fragment`` as the learner typed it (tokenizing "Hello" is not tokenizing "hello")."""
    start = message.casefold().find(folded_fragment)
    return message[start : start + len(folded_fragment)] if start >= 0 else folded_fragment


def non_english(text: str) -> bool:
    tokens = re.findall(r"[\w'’-]+", text.casefold())
    if "¿" in text or "¡" in text:
        return True
    foreign = sum(token in _NON_ENGLISH_WORDS for token in tokens)
    english = sum(token in _ENGLISH_WORDS for token in tokens)
    return foreign >= 2 and foreign > english


_SMALLTALK_REPLIES = {
    "greeting": "Hello! 👋 I'm Slide Tutor. Ask me anything about the course slides, e.g. *What is an embedding?*, "
    "or say *quiz me* or *next slide*.",
    "thanks": "You're welcome! Ask me anything else about the slides whenever you like.",
    "ack": "👍 Anything else you'd like to ask about the slides?",
    "bye": "Bye for now, and happy learning! I'm here whenever you have another question.",
    "who": "I'm Slide Tutor, a bot that answers questions about this Generative-AI course from its slides, and says "
    "so when the slides don't cover something.",
    "help": "I can answer questions about the course slides (citing them), take you through the deck (*next slide*, "
    "*go to slide 8*, `/deck`), quiz you (*quiz me*), show how text becomes tokens "
    '(*how is "hello world" tokenized?*) and write examples with a small model (*write a poem about embeddings*).',
    "lost": "No problem, start at the beginning: slide 1, *What Is Generative AI?*. Say *next slide* to go through "
    "the deck one slide at a time, or `/deck` to see every topic.",
    "empty": "Ask me a question about the slides, e.g. *What is an embedding?*",
}
_REQUEST_LEADS = {
    "quiz": "Quiz time! Here's a question on your current slide.",
    "next": "Here's the next slide.",
    "prev": "Here's the previous slide.",
    "deck": "Here's the deck: every slide and its topic.",
    "reset": "New topic: ask me anything about the slides.",
}


class Tutoring:
    """Answers learners' messages in conversation. One instance serves every front end; it reads
    the tutor's current knowledge on every message, so conversations survive a reload."""

    def __init__(self, tutor: Tutor, conversations: Conversations | None = None) -> None:
        self.tutor = tutor
        self.conversations = conversations or Conversations()

    def reset(self, key: Key) -> None:
        self.conversations.reset(key)

    def expects_reply(self, key: Key, message: str) -> bool:
        """Whether an unaddressed message in an answer channel is for the tutor: a question or a
        request, or, within a few minutes of the tutor's last reply to this learner here, a short
        follow-up or thanks ("give me an example", "thanks!"). Chatter between learners is not."""
        if looks_like_question(message):
            return True
        conversation = self.conversations.peek(key)
        recent = conversation is not None and time.monotonic() - conversation.updated <= FOLLOW_UP_WINDOW_S
        return recent and len(clean_message(message).split()) <= 12

    def instead_of_generating(self, topic: str) -> Reply | None:
        """Facts come from the slides, never from the generator: a generation topic that is really
        a course question ("what is an embedding?") gets the slides' answer, or a plain "not
        covered"; None for a creative topic (blocking when it answers: call it off the event loop)."""
        if not looks_like_course_question(topic):
            return None
        answer = self.tutor.knowledge.answerer.answer(topic)
        if answer.kind == "decline":
            return Reply("decline", COURSE_QUESTION_NOT_COVERED)
        return Reply(answer.kind, f"{COURSE_QUESTION_NOTE}\n\n{answer.text}", tuple(answer.sources), True)

    def respond(self, key: Key, message: str) -> Reply:
        """The reply to one message (blocking: retrieval and models; call it off the event loop)."""
        text = clean_message(message)[:2000]
        folded = text.casefold()
        conversation = self.conversations.get(key)
        request = _request(folded)
        if request is not None:
            if request.name == "quiz" and conversation.slide is not None:
                request = Request("quiz", str(conversation.slide))  # on the topic under discussion
            return self._request_reply(key, request, text)
        smalltalk = _smalltalk(folded)
        if smalltalk is not None:
            return self._smalltalk_reply(smalltalk)
        if _SECRETS.search(folded):
            return Reply("decline", SECRETS_TEXT)
        answerer = self.tutor.knowledge.answerer
        follow_up = self._follow_up(conversation, folded)
        if follow_up is not None:
            return follow_up
        note = ""
        if non_english(text):
            answer = answerer.answer(_drop_foreign_words(text))
            if answer.kind == "decline":
                return Reply(
                    "decline",
                    "I read and answer in English only, and I couldn't match that to the slides. "
                    "Could you ask it in English?",
                )
            note = ENGLISH_NOTE
        else:
            answer = answerer.answer(text)
            if answer.kind == "decline" and conversation.slide is not None and len(words(text)) <= 3:
                # "is lower better?" after "what is perplexity": short, and only makes sense on the topic
                on_topic = answerer.answer(f"{text} {conversation.subject}", focus=conversation.slide)
                answer = on_topic if on_topic.kind != "decline" else answer
        self._remember(conversation, text, answer)
        return Reply.from_answer(answer, note)

    # ------------------------------------------------------------------ follow-ups

    def _follow_up(self, conversation: Conversation, folded: str) -> Reply | None:
        if conversation.slide is None:
            return None
        answerer = self.tutor.knowledge.answerer
        bare = folded.strip(" !.?")
        if _SIMPLER.search(bare) and len(bare.split()) <= 12:
            answer = answerer.section(conversation.slide, "In Plain Words", bare)
            return self._section_reply(conversation, answer)
        if _EXAMPLE.search(bare) and set(re.findall(r"[a-z]+", bare)) <= _EXAMPLE_FILLER | {"what", "e", "g"}:
            answer = answerer.section(conversation.slide, "Example", bare)
            return self._section_reply(conversation, answer)
        if _MORE.match(bare):
            answer = answerer.answer(
                conversation.question or conversation.subject,
                focus=conversation.slide,
                exclude=frozenset(conversation.shown),
            )
            conversation.shown.update(answer.shown)
            return Reply.from_answer(answer)
        if not self._is_follow_up(bare):
            return None
        other = _SAME_AS.search(bare)
        if other and _PRONOUN.search(bare[: other.start()]):
            # "is that the same thing as LoRA?": what the other thing is lets the learner compare
            answer = answerer.answer(f"what is {other[1]}")
            self._remember(conversation, f"what is {other[1]}", answer)
            return Reply.from_answer(answer)
        rewritten = self._rewrite(conversation, bare)
        # A bare "why?" asks the last question again for more: what was already said is left out.
        again = _BARE_WH.fullmatch(bare) is not None
        answer = answerer.answer(
            rewritten, focus=conversation.slide, exclude=frozenset(conversation.shown) if again else frozenset()
        )
        if answer.kind != "decline":
            conversation.shown.update(answer.shown)
            conversation.question = rewritten
            if answer.slides:
                conversation.slide = answer.slides[0]
        return Reply.from_answer(answer)

    @staticmethod
    def _is_follow_up(bare: str) -> bool:
        """Short, and leaning on what came before: "why?", "and images?", "who invented it?"."""
        if len(bare.split()) > 14:
            return False
        return bool(_FOLLOW_UP_OPENERS.match(bare)) or (bool(_PRONOUN.search(bare)) and len(words(bare)) <= 3)

    @staticmethod
    def _rewrite(conversation: Conversation, bare: str) -> str:
        """Put the topic back into a follow-up: "who invented it?" -> "who invented transformer?"."""
        subject = conversation.subject
        if _BARE_WH.fullmatch(bare):
            return f"{bare.strip('?')} {conversation.question}"
        replaced, count = re.subn(r"\b(?:it|that|this|they|them|those|these)\b", subject, bare, count=1)
        return replaced if count else f"{bare} {subject}"

    def _section_reply(self, conversation: Conversation, answer: Answer | None) -> Reply:
        if answer is None:
            return Reply("decline", f"Slide {conversation.slide} has no such section, so I won't make one up.")
        conversation.shown.update(answer.shown)
        return Reply.from_answer(answer)

    @staticmethod
    def _remember(conversation: Conversation, question: str, answer: Answer) -> None:
        if answer.kind == "decline" or not answer.slides:
            return
        conversation.slide = answer.slides[0]
        subject = subject_of(question) if question_type(question) == "what-is" else " ".join(words(question)[:4])
        conversation.subject = subject or answer.sources[0].title
        conversation.question = question
        conversation.shown = set(answer.shown)

    # ------------------------------------------------------------------ small talk and requests

    def _smalltalk_reply(self, name: str) -> Reply:
        text = _SMALLTALK_REPLIES[name]
        if name == "lost":
            deck = self.tutor.deck
            if len(deck):
                first = deck.slides[0]
                source = Source(first.number, first.title, "Overview", 1.0)
                return Reply("smalltalk", text, (source,), True, ("quiz",), Request("slide", str(first.number)))
        return Reply("smalltalk", text)

    def _request_reply(self, key: Key, request: Request, text: str) -> Reply:
        if request.name == "reset":
            self.reset(key)
        lead = _REQUEST_LEADS.get(request.name)
        if request.name == "slide":
            lead = f"Here's slide {request.argument}."
        elif request.name == "tokenize":
            request = Request("tokenize", _original_case(text, request.argument))
            lead = f"Here's how “{request.argument[:200]}” is cut into tokens."
        elif request.name == "generate":
            request = Request("generate", _original_case(text, request.argument), request.kind)
            about = f" about {request.argument[:200]}" if request.argument else ""
            lead = f"Here's a {request.kind}{about}, written by a small local model (not course material)."
        return Reply("command", lead or "", request=request)


_FOREIGN_WHAT_IS = re.compile(
    r"qu'?est[- ]ce|c'est quoi|qu[ée] es|qu[ée] significa|was (?:ist|sind|bedeutet)|cos'?è|che cos"
)


def _drop_foreign_words(text: str) -> str:
    """What retrieval can use of a question in another language: its content words (often the
    technical terms: "RAG", "token"), as a what-is question when it asked what something is."""
    kept = " ".join(w for w in re.findall(r"[\w'’-]+", text) if w.casefold() not in _NON_ENGLISH_WORDS) or text
    return f"what is {kept}" if _FOREIGN_WHAT_IS.search(text.casefold()) else kept
