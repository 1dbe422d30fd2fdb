"""Answering from the slides with the real deck, index and models."""

from __future__ import annotations

import pytest

from bot.domain.answering import EmptyQuestion, compare_sides, question_type, subject_of
from bot.domain.retrieval import MAX_QUESTION_CHARS
from bot.domain.text import acronyms_in, expand_abbreviations, terms
from bot.plumbing import per_user_cooldown, split_message


def test_faq_style_answer_quotes_the_slide_and_cites_it(tutor):
    answer = tutor.ask("Can embeddings represent abstract ideas?")
    assert answer.confident
    assert answer.sources[0].slide == 13 and answer.sources[0].section.startswith("FAQ")
    assert "high-dimensional vectors can encode emotions" in answer.text
    assert "Slide 13 · Tokenization, Embeddings and Latent Space" in answer.text


def test_section_answers_are_trimmed_to_the_matching_block(tutor):
    answer = tutor.ask("what is latent space")
    assert answer.confident and answer.sources[0].slide == 13
    assert "Latent Space" in answer.text
    slide = tutor.deck.get(13)
    assert len(answer.text) < len(slide.section("Key Concepts").text), "trimmed to the point"


@pytest.mark.parametrize(
    "question",
    [
        "LORA??",
        "what is lora",
        "lora",
        "how does low rank adaptaton work (LoRA) when fine tunning",
    ],
)
def test_short_misspelt_and_mixed_case_questions(tutor, question):
    answer = tutor.ask(question)
    assert answer.confident and answer.sources[0].slide == 12, answer.text


def test_uncovered_question_is_declined_without_suggesting_unrelated_slides(tutor):
    answer = tutor.ask("What's a good recipe for banana bread?")
    assert not answer.confident and answer.kind == "decline"
    assert "don't cover that" in answer.text
    assert not answer.sources, "no unrelated slide is suggested"
    assert "/deck" in answer.text, "the learner is pointed to the contents"


def test_empty_question_is_an_error(tutor):
    with pytest.raises(EmptyQuestion):
        tutor.ask(" \n\t ")


def test_huge_question_is_answered_from_its_start_and_kept_whole(tutor):
    # Speed is bench/qa.py's to measure; here: the models read a bounded prefix, the learner's
    # words are kept whole in the answer.
    question = "How does temperature change sampling? " + "Please explain in detail. " * 4000
    assert len(question) > 100_000
    assert len(tutor.knowledge.retriever.prepare(question)) <= MAX_QUESTION_CHARS
    answer = tutor.ask(question)
    assert answer.sources[0].slide == 10
    assert len(answer.question) == len(" ".join(question.split())), (
        "the question is kept, only the models' input is cut"
    )


def test_odd_unicode_does_not_break_answering(tutor):
    for question in ["\u200b\u200d", "what is a t\u00f6ken? 🤖🤖", "\x00\x01 attention", "トークン化とは"]:
        answer = tutor.ask(question)
        assert isinstance(answer.text, str) and answer.text


def test_answers_fit_a_discord_message(tutor):
    for question in ["What are the ethics of generative AI?", "explain transformers and attention in detail"]:
        assert len(tutor.ask(question).text) <= 2000


def test_split_message_respects_the_limit_and_keeps_every_word():
    text = ("word " * 300 + "\n\n") * 5
    parts = split_message(text, 2000)
    assert all(len(part) <= 2000 for part in parts) and len(parts) > 1
    assert " ".join(parts).split() == text.split()
    assert split_message("x" * 4500, 2000) == ["x" * 2000, "x" * 2000, "x" * 500]


def test_split_message_prefers_a_paragraph_break_past_half_the_limit():
    first, second = "a" * 1200, "b " * 350
    parts = split_message(f"{first}\n\n{second}\n{'c ' * 100}", 2000)
    assert parts[0] == first, "cut at the paragraph, not at the later line break"
    early = split_message(f"{'a' * 100}\n\n{'b ' * 900}\n{'c ' * 50}", 2000)
    assert len(early[0]) > 1000, "a paragraph break before half the limit would leave a short message"


def test_message_cooldown_is_per_user_and_off_at_zero():
    """discord.py's CooldownMapping, keyed by user id, as the Ask cog uses it for messages."""
    cooldowns = per_user_cooldown(10)
    assert cooldowns.update_rate_limit(1) is None
    assert 9 < cooldowns.update_rate_limit(1) <= 10
    assert cooldowns.update_rate_limit(2) is None
    assert per_user_cooldown(0) is None


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("who invented GANs?", "2014"),
        ("when was the transformer introduced?", "2017"),
        # the deck says "introduced": "invented transformers" is not the toys, nor ELIZA's timeline
        ("who invented transformers?", "2017"),
        ("who invented the transformer", "2017"),
        ("when was chatgpt released?", "On 30 November 2022 OpenAI launched ChatGPT"),  # not its paragraph's top
    ],
)
def test_who_and_when_questions_lead_with_the_names_and_the_year(tutor, question, expected):
    answer = tutor.ask(question)
    assert answer.kind == "answer"
    first_line = next(line for line in answer.text.split("\n") if not line.startswith("**"))  # past an FAQ's label
    assert first_line.startswith(expected) or expected.isdigit() and expected in first_line


@pytest.mark.parametrize(
    "question", ["how do i build a chatbot", "how do i make my own chatbot", "how do i deploy my chatbot"]
)
def test_building_a_chatbot_is_getting_started_not_the_history_of_chatbots(tutor, question):
    """ELIZA, "the first chatbot", once answered every question with "chatbot" in it."""
    answer = tutor.ask(question)
    assert answer.kind == "answer" and answer.slides[0] == 21 and "ELIZA" not in answer.text


def test_advice_about_a_name_of_two_words_the_deck_uses_is_answered_in_part(tutor):
    # "Stable Diffusion" is one of the deck's names, as "Midjourney" is: what the slides say of it
    answer = tutor.ask("best stable diffusion checkpoint on civitai for anime style?")
    assert answer.kind == "partial" and answer.slides[0] in (7, 15) and "Stable Diffusion" in answer.text


@pytest.mark.parametrize(
    ("question", "slide", "opening"),
    [
        # the slide's process is how to reduce them, not its summary in bullets
        ("how do i reduce hallucinations", 18, "1. **Ground the model**"),
        # slide 5's remedies, not slide 12's fine-tuning steps that mention overfitting once
        ("how can i avoid overfitting", 5, "Common remedies are"),
        # making up what it was never given is hallucinating, whatever it makes up
        ("how do i stop my support bot from making up refund policies", 18, "1. **Ground the model**"),
    ],
)
def test_how_to_prevent_something_gives_the_remedy(tutor, question, slide, opening):
    answer = tutor.ask(question)
    assert answer.kind == "answer" and answer.slides[0] == slide and answer.text.startswith(opening)


@pytest.mark.parametrize(
    "question", ["who invented the internet", "who is the father of ai", "who invented the telephone"]
)
def test_who_made_something_the_slides_never_say_who_made_is_declined(tutor, question):
    # the history slide is full of names and years, none of them for these
    assert tutor.ask(question).kind == "decline"


@pytest.mark.parametrize(
    ("question", "slide"),
    [
        ("what can generative ai be used for", 20),  # "used for": the applications, not what it produces
        ("why is chatgpt bad at math", 18),  # the deck says "arithmetic"
        ("are fake videos of politicians a problem", 19),  # the deck says "deepfakes"
        ("why doesn't chatgpt know about recent events", 6),  # the deck says "knowledge cutoff"
        # what temperature does; not slide 13's "Creative Content"
        ("how can i make ai answers more creative", 10),
        ("how do i write my requests so the ai understands", 11),  # the deck says "prompt"
        ("why is generative ai controversial", 19),  # ethics
        ("can ai be wrong", 18),  # not "Why do AI images sometimes get hands wrong?"
        ("where does ai get its information from", 6),  # its training data, not who is responsible for it
        ("how does ai understand words", 13),  # tokens and embeddings, not ELIZA's keyword matching
        ("how to get more accurate answers", 11),  # better answers come from better prompts
        ("how do chatbots work", 9),  # the LLM inside, not ELIZA, "the first chatbot"
    ],
)
def test_everyday_words_find_the_slide_that_uses_the_decks_word(tutor, question, slide):
    assert tutor.ask(question).slides[0] == slide


def test_everyday_words_for_hallucinating_find_the_hallucination_slide(tutor):
    answer = tutor.ask("WHY DOES MY CHATBOT MAKE STUFF UP")
    assert answer.slides[0] == 18
    assert "(hallucinate)" not in answer.text, "the learner's words are never rewritten in the reply"


@pytest.mark.parametrize(
    ("question", "kind", "subject"),
    [
        ("can you tell me what an embedding is?", "what-is", "embedding"),
        ("tell me what a token is", "what-is", "token"),
        ("could you explain attention", "what-is", "attention"),
        ("can you explain to me what RAG is", "what-is", "rag"),
        ("i want to know what perplexity means", "what-is", "perplexity"),
        ("please define overfitting", "what-is", "overfitting"),
        ("explain how attention works", "how", "how attention works"),
        ("can someone explain perplexity", "what-is", "perplexity"),
        ("pls explain top p sampling thx", "what-is", "top p sampling"),
        ("help me understand embeddings", "what-is", "embeddings"),
        # the topic first, then the question about it
        ("tokenization, what is it?", "what-is", "tokenization"),
        ("embeddings what are they", "what-is", "embeddings"),
        ("rag - what is it", "what-is", "rag"),
        ("diffusion models how do they work", "how", "how do diffusion models work"),
        ("and what is it", "what-is", "it"),  # a follow-up's "it", not a topic
    ],
)
def test_polite_openings_do_not_change_what_is_asked(question, kind, subject):
    assert question_type(question) == kind
    assert subject_of(question) == subject


@pytest.mark.parametrize(
    ("question", "sides"),
    [
        ("gan vs diffusion", ("gan", "diffusion")),
        ("what's the difference between RAG and fine-tuning?", ("rag", "fine-tuning")),
        ("how is a VAE different from a GAN?", ("vae", "gan")),
        ("should i fine-tune or use RAG?", ("fine-tune", "rag")),
        ("do i need a gpu or not?", None),
        ("difference between ai and generative ai", None),  # one inside the other: nothing to pair
        ("what is a transformer", None),
    ],
)
def test_the_two_sides_of_a_comparison(question, sides):
    assert compare_sides(question) == sides


@pytest.mark.parametrize(
    ("question", "slides", "openings"),
    [
        ("gan vs diffusion", [7, 15], ("A GAN", "A diffusion model")),
        ("what's the difference between rag and fine-tuning?", [14, 12], ("Retrieval-augmented", "Fine-tuning")),
    ],
)
def test_a_comparison_says_what_each_side_is(tutor, question, slides, openings):
    answer = tutor.ask(question)
    assert answer.kind == "answer" and answer.slides == slides
    blocks = answer.text.split("\n\n")
    assert [block.startswith(opening) for block, opening in zip(blocks, openings, strict=True)] == [True, True]


def test_a_comparison_the_deck_cannot_split_is_answered_whole(tutor):
    # the deck never names "normal AI": the question is answered as a whole, not half from a stray "AI"
    answer = tutor.ask("how is generative ai different from normal ai?")
    assert answer.kind == "answer" and answer.slides[0] in (1, 2) and 19 not in answer.slides


@pytest.mark.parametrize(
    ("question", "slide", "first_step"),
    [("what are the steps of RAG?", 14, "1. **Load and chunk**"), ("list the steps of training a model", 5, "1. **")],
)
def test_asking_for_the_steps_gives_the_slides_process_whole(tutor, question, slide, first_step):
    answer = tutor.ask(question)
    assert answer.kind == "answer" and answer.slides[0] == slide
    assert answer.text.startswith(first_step)
    process = tutor.deck.get(slide).section("How It Works").text
    assert answer.text.count("\n") >= process.count("\n"), "every step, not the first few"


@pytest.mark.parametrize(
    ("question", "slide", "named"),
    [
        ("can i run stable diffusion on a raspberry pi?", 15, "raspberry"),
        ("how do i fine-tune llama with pytorch lightning", 12, "lightning"),  # PyTorch is on slide 5
        ("how do i add rag to my slack bot", 14, "slack"),
        ("how do i build a rag app with next.js", 14, "next.js"),  # a dotted name, though "next" is a word
    ],
)
def test_a_tool_or_place_the_deck_never_names_makes_the_answer_partial(tutor, question, slide, named):
    answer = tutor.ask(question)
    assert answer.kind == "partial" and answer.slides[0] == slide
    assert f"don't go into {named}" in answer.text.casefold()


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("what tools do i need for woodworking", "decline"),
        ("why is the transformer faster to train than an rnn", "answer"),
    ],
)
def test_a_trailing_phrase_alone_does_not_make_an_answer_partial(tutor, question, kind):
    assert tutor.ask(question).kind == kind


@pytest.mark.parametrize(
    "question",
    [
        "what temperature should i bake bread at",
        "how do i fine tune my guitar",
        "how do electrical transformers work",
        "what causes hallucinations in people with a fever",
        "how do i train my dog to sit",
        "how do i get more tokens in my arcade game",  # not rescued as "how do I get more tokens" + "arcade"
        "what is a convolution in signal processing",  # slide 4's convolutional networks
        "what is an api gateway",  # slide 21's APIs
        # advice that names a name the deck uses in another sense (its Paris example, Gemini, Microsoft)
        "what are the best restaurants in paris",
        "best gemini horoscope app?",
        "best microsoft excel formulas for budgeting",
    ],
)
def test_the_other_senses_of_the_decks_words_are_declined(tutor, question):
    """Each of these shares a word with a slide (temperature, fine-tuning, transformer...)."""
    assert tutor.ask(question).kind == "decline"


@pytest.mark.parametrize(
    "question",
    [
        "what is a support vector machine",
        "explain random forests",
        "how does k-means clustering work",
        "what is q-learning",
        "is ai conscious?",
        "how do robots learn to walk?",
        "explain the bias variance tradeoff in linear regression",  # shares "bias" with slides 4 and 19
    ],
)
def test_machine_learning_the_course_leaves_out_is_declined(tutor, question):
    """They share "vector", "learning", "random", "AI" with the deck, which never teaches them."""
    assert tutor.ask(question).kind == "decline"


@pytest.mark.parametrize(
    ("question", "slide"),
    [("what is reinforcement learning from human feedback", 12), ("what is a hyperparameter", 5)],
)
def test_the_decks_own_machine_learning_is_still_answered(tutor, question, slide):
    answer = tutor.ask(question)
    assert answer.kind == "answer" and answer.slides[0] == slide


@pytest.mark.parametrize(
    ("question", "slide"),
    [
        ("what is diffusion?", 15),
        ("what is attention?", 8),
        ("who made stable diffusion?", 15),  # the deck's name, not the diffusion of gases
    ],
)
def test_the_decks_word_alone_means_the_courses_sense(tutor, question, slide):
    answer = tutor.ask(question)
    assert answer.kind == "answer" and answer.slides[0] == slide


@pytest.mark.parametrize(
    ("question", "slide", "says"),
    [
        ("will ai replace software engineers", 20, "don't predict what will happen to a particular job"),
        ("do companies still need programmers now that ai can code", 20, "particular job"),
        ("how much does the openai api cost", 21, "don't give prices"),
        ("how do i get a job in generative ai", 20, "don't give career advice"),
        ("what gpu do i need for stable diffusion", 15, "don't give advice for a particular case"),
        ("which vector database is fastest", 14, "don't give advice for a particular case"),
        ("can i use ai generated images in my commercial product", 19, "don't give advice about your own project"),
        ("when is gpt-5 coming out", 3, "don't follow the news or today's figures"),
        ("is llama available in hugging face", 21, "don't follow the news or today's figures"),
        ("whats the cheapest embeddings api right now", 21, "don't give prices"),
        ("which AI startups are hiring interns right now", 2, "don't give career advice"),
        ("can i copyright a novel i wrote with chatgpt's help in canada", 19, "legal advice for a particular country"),
        ("how do i deploy a fine-tuned model to an aws sagemaker endpoint", 12, "steps for a particular platform"),
        # too far from any passage to be answered, but about things the deck names: said in part
        ("my LoRA training loss goes to nan after 200 steps, lr=1e-3. what's wrong", 12, "fix a particular setup"),
        ("help my gan outputs are all the same image", 7, "fix a particular setup"),
        ("which is better for coding, chatgpt plus or claude pro? worth the 20 bucks a month?", 21, "rank one product"),
        ("will we still need radiologists in 20 years", 20, "particular job"),  # a job the deck never names
        ("give me the exact prompt template that makes chatgpt write like hemingway", 11, "that much detail"),
        ("suno vs udio for making a song for my band, which sounds more real", 16, "rank one product against another"),
        ("is midjourney better than dall-e 3", 15, "rank one product against another"),
        ("is pinecone worth paying for or should i just use pgvector", 14, "don't give advice"),
        ("does the eu ai act require me to tell users my chatbot is ai", 19, "don't give advice"),
        ("how do i set up ollama on my m2 macbook", 21, "steps for a particular platform"),
        ("my stable diffusion images have 6 fingers, what settings should i use", 15, "don't give advice"),
        (
            "getting CUDA out of memory fine-tuning llama-2-7b on my 3060, how do i fix my script",
            12,
            "fix a particular",
        ),
        ("what's the latest version of Llama and when did it drop?", 9, "don't follow the news"),
        ("under UK copyright law, do I own the images I generate with Midjourney?", 19, "legal advice"),
        ("im 16 and want to work in AI, should I study computer science or data science?", 21, "career advice"),
        ("as a freelance designer, should I pay for Midjourney, DALL-E 3 or Adobe Firefly?", 15, "don't give advice"),
        ("ElevenLabs or Play.ht for cloning my voice? which sounds more natural", 16, "don't give advice"),
        ("what's the current context window of Gemini 1.5 Pro, in tokens", 9, "don't go into Gemini 1.5"),
        ("is it fair use in the US to put ai generated art in a comic i'm selling", 19, "legal advice"),
        ("did openai just drop a new model? what changed", 3, "don't follow the news"),
        ("what did openai announce last week?", 3, "don't follow the news"),
        ("my loss goes flat after 1000 steps, should i drop my lr to 1e-5?", 5, "advice for a particular case"),
        ("my elevenlabs voice sounds robotic, which settings should i tweak", 16, "advice for a particular case"),
        # nearer art for a shop than any slide, but not by the margin that says it is about shops
        ("midjourney or dall-e 3, which should i pay for to make art for my etsy shop", 15, "advice"),
        ("my python script calling the openai api keeps throwing 429 errors how do i fix it", 21, "fix a particular"),
        ("is my gan mode collapsing? it outputs the same face every time", 7, "fix a particular setup"),
        ("langchain throws ValueError: Missing some input keys on my RetrievalQA chain, what do i do", 14, "fix"),
        ("how do i get ollama to use my amd gpu on windows, it keeps using cpu", 21, "particular platform"),
        # advice about the subject of the slide found, however far from its passages
        ("should i quit my accounting job to become a prompt engineer full time", 11, "career advice"),
        # a name the deck writes in two words, written as one
        ("huggingface trainer loss goes to nan after step 200, whats wrong with my setup", 5, "fix a particular"),
        # versions and sizes the deck never names
        ("QLoRA or full fine tuning for a 13b model on one A100 40GB?", 12, "don't go into 13b, A100 and 40GB"),
        # people replaced: the slide on jobs, not "Is generative AI replacing traditional AI?"
        ("will ai replace graphic designers", 20, "don't predict what will happen to a particular job"),
        ("what's the highest mmlu score right now", 17, "don't follow the news"),
        ("how do i run stable diffusion on google colab", 15, "particular platform"),
        # a request to fix one's own training run, however far from the slide's words
        ("my training loss is stuck at 2.3 and won't go down, help", 5, "fix a particular"),
        ("my loss is going up instead of down, what am i doing wrong", 5, "fix a particular"),
        # the memory a model size needs, however far the question sits from the slide that says it
        ("how much vram do i need for a 13b model", 12, "don't give advice"),
        # data protection law is the slides' privacy, not slide 17's prompts
        ("does gdpr allow me to put customer emails in a prompt", 19, "legal advice"),
    ],
)
def test_what_no_slide_settles_makes_the_answer_partial(tutor, question, slide, says):
    answer = tutor.ask(question)
    assert answer.kind == "partial" and answer.slides[0] == slide
    assert says in answer.text


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("how do I choose between rag and fine-tuning?", "answer"),  # a comparison the deck makes
        ("rag vs fine-tuning, which one should i use?", "answer"),  # slide 12's FAQ asks it
        ("what is the best programming language for games", "partial"),  # slide 21's FAQ: for AI, not games
        ("gans vs diffusion for images?", "answer"),
        ("what is the exact definition of a token", "answer"),
        ("why does the exact same prompt give different answers every time?", "answer"),
        ("is lora cheaper than full fine-tuning?", "answer"),
        ("what tools should i use to start my first genai project?", "answer"),  # slide 21 says
        ("how do i make my code run faster in python", "decline"),  # Python is named, the question is not ours
        ("cheapest way from paris to amsterdam, train or bus?", "decline"),
        ("whats the best temperature to brew green tea?", "decline"),
        ("in naive bayes spam filters why do we need laplace smoothing", "decline"),
        ("how do i lower the temperature on my nest thermostat", "decline"),
        ("what bed temperature should i use for petg on my 3d printer", "decline"),
    ],
)
def test_advice_words_alone_do_not_make_an_answer_partial(tutor, question, kind):
    assert tutor.ask(question).kind == kind


def test_an_acronym_that_is_also_a_word_is_read_as_the_decks(tutor):
    """MiniLM reads "rag" as a cloth; the deck's "Retrieval-augmented generation (RAG)" says otherwise."""
    answer = tutor.ask("how do i deploy a rag app on aws")
    assert answer.kind == "partial" and answer.slides[0] == 14
    assert "retriev" in answer.text.casefold()


def test_acronyms_are_read_from_the_words_they_follow():
    text = (
        "Retrieval-augmented generation (RAG) looks things up. It is also called supervised fine-tuning (SFT). "
        "Reinforcement learning from human feedback (RLHF) ranks answers. A large language-model encoder (T5) "
        "and the results (see above) are not acronyms. ### LoRA (Low-Rank Adaptation)"
    )
    assert acronyms_in(text) == {
        "rag": "retrieval-augmented generation",
        "sft": "supervised fine-tuning",
        "rlhf": "reinforcement learning from human feedback",
        "lora": "low-rank adaptation",
    }
    once = expand_abbreviations("how do RAGs work", acronyms=acronyms_in(text))
    assert once == "how do RAGs (retrieval-augmented generation) work"
    assert expand_abbreviations(once, acronyms=acronyms_in(text)) == once
    assert expand_abbreviations("a dragon", acronyms=acronyms_in(text)) == "a dragon"


@pytest.mark.parametrize(
    ("question", "opening"),
    [
        ("embeddings?", "An embedding is"),
        ("gradient descent", "Gradient descent is"),
        ("RAG", "Retrieval-augmented"),
        ("hallucinashuns??", "A hallucination is"),  # spelt as it sounds
    ],
)
def test_a_bare_name_is_answered_with_what_it_is(tutor, question, opening):
    answer = tutor.ask(question)
    assert answer.kind == "answer" and answer.text.startswith(opening), answer.text


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("is chatgpt better than claude", "partial"),  # two products the deck names
        ("is rag better than fine-tuning", "answer"),  # two ideas the deck compares
        ("should i learn pytorch or tensorflow", "partial"),  # a choice of tools the deck at most names
        ("should i use rag or fine tuning", "answer"),  # a choice the deck explains
        # products the deck names often, and a choice after the case it is for
        ("sora or runway for making youtube shorts?", "partial"),
        ("for an agent that books flights, should i use gpt-4o or claude 3.5 sonnet", "partial"),
        ("should i use faiss or pinecone for my rag app", "partial"),  # the tools, not the app they are for
        ("is gpt-4 bigger than llama 3", "partial"),
        ("is a 70b model bigger than a 7b model", "answer"),  # sizes the deck gives figures for
    ],
)
def test_ranking_products_is_beyond_the_slides_and_comparing_ideas_is_not(tutor, question, kind):
    answer = tutor.ask(question)
    assert answer.kind == kind
    assert ("don't rank one product against another" in answer.text) == (kind == "partial")


@pytest.mark.parametrize(
    ("question", "opening"),
    [
        ("how is a diffusion model trained?", "During training, images are corrupted with increasing amounts of"),
        ("how does backpropagation work?", "After the forward pass produces an output and a loss, the error"),
        # the paragraph that explains them from its start, not its closing verdict ("Diffusion models give
        # excellent quality…"), misspelt as it sounds or not
        ("how do diffusion models work", "A diffusion model learns to reverse a gradual noising process."),
        ("diffushun modles how do they wrk", "A diffusion model learns to reverse a gradual noising process."),
    ],
)
def test_a_how_question_is_answered_by_the_slides_explanation_not_a_table_or_a_worked_example(tutor, question, opening):
    """A comparison table's cell ("Stable training") and a worked example's step matched the words
    best, and answered neither."""
    answer = tutor.ask(question)
    assert answer.text.startswith(opening)
    assert answer.sources[0].section not in ("Comparison", "Example")


def test_a_yes_no_question_is_answered_by_a_sentence_not_the_start_of_a_list(tutor):
    answer = tutor.ask("is training data copyrighted?")
    assert answer.slides[0] == 19 and not answer.text.startswith("- ")
    assert "lawsuits" in answer.text


def test_an_faq_that_clearly_leads_answers_as_it_stands(tutor):
    answer = tutor.ask("how does chatgpt remember the conversation?")
    assert answer.text.startswith("**How does a chatbot remember what I said")


@pytest.mark.parametrize(
    ("question", "opening"),
    [
        # a what-is answer defines the thing itself: not "Temperature 0 is…"
        ("what is temperature?", "Temperature is a setting that decides how adventurous"),
        # what it does is what it is: not "Temperature 0 is treated as greedy decoding"
        ("what does temperature do", "Temperature is a setting that decides how adventurous"),
        ("what's the point of attention?", "Self-attention lets each word update its meaning"),
        # an FAQ answers the learner's question in its first sentence, whose own words share little with it
        ("can an llm browse the internet?", "Not by itself: a plain LLM answers from patterns stored in its weights."),
        ("why does the model give different answers each time?", "Because most chat tools sample the next token"),
        # not "This sycophancy makes…", which leans on the sentences before it
        ("what is sycophancy", "Models trained on human approval tend to tell users what they seem to want"),
        # the first sentence under "### LLM-as-a-judge", not a short one that the heading makes look close
        ("what is llm as a judge", "A strong language model can grade outputs against a rubric"),
    ],
)
def test_answers_open_with_the_sentence_that_answers(tutor, question, opening):
    assert tutor.ask(question).text.startswith(opening)


def test_a_definition_on_a_lower_ranked_slide_still_leads_a_what_is_answer(tutor):
    """Slide 21's setup steps use "cosine similarity" twice; slide 13 says what it is."""
    answer = tutor.ask("what is cosine similarity")
    assert answer.slides[0] == 13 and answer.text.startswith("Closeness is usually measured with cosine similarity")


@pytest.mark.parametrize(
    "question",
    [
        "should i use top-k or top-p for my chatbot",  # a choice for one case
        "should i use a gan or diffusion for my art project",  # the learner's own project, its kind named
    ],
)
def test_a_choice_for_the_learners_own_case_is_answered_in_part(tutor, question):
    answer = tutor.ask(question)
    assert answer.kind == "partial" and "They don't give advice for a particular case" in answer.text


def test_two_named_products_weighed_against_each_other_is_beyond_the_slides(tutor):
    """ "Stable Diffusion" is a name although the deck writes "diffusion" in lower case too."""
    answer = tutor.ask("is midjourney better than stable diffusion")
    assert answer.kind == "partial" and "don't rank one product against another" in answer.text


def test_a_paragraph_is_not_quoted_from_its_top_when_the_answer_is_further_down(tutor):
    answer = tutor.ask("is ai art copyrighted?")
    assert answer.slides[0] == 19 and answer.text.startswith("There are open legal questions about whether training")


@pytest.mark.parametrize(
    ("question", "slides", "quoted", "closing"),
    [
        (
            "which GPU do I need to run a 70B model?",
            [21, 9],
            "a 70B model about 140 GB",
            "don't give advice for a particular case",
        ),
        (
            "how do i build an agent with langchain step by step",
            [22, 21],
            "LangChain and LlamaIndex offer ready-made building blocks",
            "don't say more about LangChain than this",
        ),
    ],
)
def test_a_specific_another_slide_names_is_quoted_from_it(tutor, question, slides, quoted, closing):
    """Not "they don't go into 70B": slide 9 does, in one sentence."""
    answer = tutor.ask(question)
    assert answer.kind == "partial" and answer.slides == slides
    assert quoted in answer.text and closing in answer.text


@pytest.mark.parametrize(
    ("question", "slides"),
    [("rag vs finetuning", [14, 12]), ("what is an rnn", [4]), ("what are the limitations of llms?", [18])],
)
def test_short_forms_the_deck_spells_out_are_read_as_its_words(tutor, question, slides):
    """ "rnn" for recurrent neural networks, "finetuning" for fine-tuning, "limitations" for the limits
    slide 18 is about: words the deck never uses."""
    answer = tutor.ask(question)
    assert answer.kind == "answer" and answer.slides[: len(slides)] == slides


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("so what exactly is an llm", "what-is"),
        ("ok but what is a token actually", "what-is"),
        ("what do people mean by latent space", "what-is"),
        ("what are embeddings used for", "other"),  # their uses, not a definition
    ],
)
def test_question_kinds_of_everyday_phrasings(question, kind):
    assert question_type(question) == kind


def test_what_exactly_is_answered_with_the_definition(tutor):
    """ "so what exactly is an llm" was not read as a what-is question and opened on scaling laws."""
    answer = tutor.ask("so what exactly is an llm")
    assert answer.text.startswith("A large language model (LLM) is a transformer")


def test_how_something_works_is_not_answered_with_what_it_is_used_for(tutor):
    answer = tutor.ask("how does text to image work?")
    assert answer.slides[0] == 15 and answer.sources[0].section != "Applications"
    assert "noise" in answer.text


@pytest.mark.parametrize("question", ["what's 2+2", "solve x^2 - 5x + 6 = 0"])
def test_a_sum_to_work_out_is_declined(tutor, question):
    """ "2" and "x" are in the deck ("typically 2 to 5 examples"), the subject is not."""
    assert tutor.ask(question).kind == "decline"


def test_a_what_is_question_with_a_second_question_after_and_defines_its_subject(tutor):
    answer = tutor.ask("WHAT IS TEMPERATURE AND WHY DOES MY OUTPUT CHANGE")
    assert answer.text.startswith("Temperature divides the logits")
    assert subject_of("what is rag and how does it work") == "rag"


def test_a_bot_on_our_own_documents_is_answered_with_rag(tutor):
    answer = tutor.ask("how do i make a bot that answers questions from our internal docs")
    assert answer.kind == "answer" and answer.slides[0] == 14


def test_a_tool_the_deck_never_names_is_looked_for_in_the_last_sentence_only(tutor):
    """ "… on top of our company wiki. I don't want it to make stuff up. What approach …?" is not
    "build a chatbot" plus an unknown tool: that answered with ELIZA and 'they don't go into stuff'."""
    answer = tutor.ask(
        "My manager wants me to build a chatbot on top of our company wiki. I don't want it to make "
        "stuff up. What approach does the course recommend?"
    )
    assert 3 not in answer.slides and "stuff" not in answer.text


def test_advice_the_deck_itself_asks_and_answers_is_not_beyond_it(tutor):
    """ "Is it legal…" is advice for a particular case, unless the deck's own FAQ asks it."""
    answer = tutor.ask("is it legal to train on copyrighted data?")
    assert answer.kind == "answer" and answer.text.startswith("**Is it legal to train AI on copyrighted material?**")
    assert tutor.ask("is it legal to sell ai art in germany").kind == "partial"


def test_reading_a_question_twice_adds_nothing_more():
    """answer() prepares the question and retrieval prepares it again: "(hallucinate)" was added twice."""
    once = expand_abbreviations("why do chatbots make stuff up with llms", keep={"llm"}, plurals=True)
    assert once == "why do chatbots make stuff up (hallucinate) with llms"  # the deck writes "LLM": kept
    assert expand_abbreviations(once, keep={"llm"}, plurals=True) == once


def test_a_plural_short_form_counts_once_for_the_words_matched(tutor):
    """ "llms" spelled out as "large language models" matched slide 9's title three times over."""
    assert tutor.ask("how are llms evaluated?").slides[0] == 17


def test_an_example_question_favours_a_case_in_point(tutor):
    answer = tutor.ask("what's an example of few-shot prompting")
    assert answer.slides[0] == 11 and "for instance" in answer.text.split("\n")[0]


@pytest.mark.parametrize(
    ("question", "slide"), [("what is ROUGE?", 17), ("what is the lost in the middle problem", 18)]
)
def test_a_name_in_a_slides_sub_heading_is_answered_however_rare(tutor, question, slide):
    """The embedding model hardly knows "ROUGE"; slide 17's "### Overlap metrics: BLEU and ROUGE"
    says what it is."""
    answer = tutor.ask(question)
    assert answer.kind == "answer" and answer.slides[0] == slide


def test_a_comparison_from_a_table_gives_both_sides_under_their_headings(tutor):
    answer = tutor.ask("why are transformers better than rnns")
    assert answer.slides[0] == 8
    assert "**Recurrent networks (RNNs, LSTMs)**\n- Read tokens one at a time" in answer.text
    assert "**Transformers**\n- Process all tokens of the input at once" in answer.text


@pytest.mark.parametrize("question", ["how are embeddings created", "what are embeddings used for"])
def test_what_a_slide_covers_is_not_quoted_as_an_answer(tutor, question):
    """Slide 13's overview says what the slide introduces ("This slide introduces…", "- How inputs
    are converted…"): a list of topics, which answers nothing."""
    text = tutor.ask(question).text
    assert not text.startswith(("This slide", "- How", "- Why"))


def test_the_best_way_to_start_is_not_a_request_for_a_recommendation(tutor):
    answer = tutor.ask("what's the best way to start learning generative ai")
    assert answer.kind == "answer" and answer.slides[0] == 21


def test_the_learners_own_company_in_a_long_story_sets_the_scene(tutor):
    """ "in my commercial product" asks for advice; a long story that starts "my company wants to…"
    asks a general question."""
    answer = tutor.ask(
        "my company wants to train a model on our own customer emails so it writes replies in our style. "
        "someone mentioned fine tuning. what is that and do we need a huge amount of data for it?"
    )
    assert answer.kind == "answer" and answer.slides[0] == 12


def test_what_is_left_of_a_contraction_is_not_a_term():
    # "won't" split at its apostrophe left "won" and "t": words no slide is about, which lowered coverage
    assert terms("my loss won't go down and it doesn't learn, they're stuck") == terms(
        "my loss will not go down and it does not learn, they are stuck"
    )


def test_whats_is_searched_as_what_is(tutor):
    # the embedding model places "what's" and "what is" apart; one question, one search
    retriever = tutor.knowledge.answerer.retriever
    assert retriever.prepare("what's a token") == retriever.prepare("whats a token") == "what is a token"
    assert retriever.prepare("whatsapp bot") == "whatsapp bot"


def test_misspelt_words_and_chat_slang_are_not_what_the_slides_lack(tutor):
    # "attenshun" and "transfomers" are read as attention and transformers; "even" and "fr" are chat
    answer = tutor.ask("yo wat even is attenshun in transfomers lmao fr fr")
    assert answer.kind == "answer" and answer.slides[0] == 8 and "don't go into" not in answer.text
    assert tutor.ask("wats a vectr databse n y does evry1 need 1 4 rag now lol").kind == "answer"
