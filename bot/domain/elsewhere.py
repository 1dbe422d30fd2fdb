"""Subjects learners ask about that are not the course's: everyday topics, the other senses of the
deck's own words (an electrical transformer, an oven's temperature, tuning a guitar), and the
machine learning a generative-AI course leaves out (support vector machines, k-means, Q-learning),
which shares its words ("vector", "learning") with the deck.

The embedding model places "what temperature should I bake bread at" close to the slide on sampling
temperature, so neither the cosine nor the words shared tell it apart from a real question. A question
much closer to one of these subjects than to any passage of the deck is about that subject instead
(the margin is ``ConfidenceRule.elsewhere_margin``). The comparison is relative: a course about baking
answers its own baking questions, because its passages are closer still.

AI products named after other things (Gemini, Llama, Claude, Mistral) are left out on purpose: a
learner asking about them means the model.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from bot.domain.embedding import Embedder

OTHER_SUBJECTS: tuple[str, ...] = (
    "an electrical power transformer steps voltage up or down with copper coils",
    "Transformers toys and movies: Optimus Prime, Bumblebee and the Autobots",
    "the oven temperature and time for baking bread, cakes and cookies",
    "the weather forecast: temperature, rain and wind tomorrow",
    "a high body temperature or fever when you are ill",
    "cooking meat to a safe internal temperature",
    "tuning a guitar, piano or violin so the strings play in pitch",
    "tuning a car engine for more horsepower",
    "fashion models, modelling agencies and photo shoots",
    "building model trains, model airplanes and scale model kits",
    "a role model to look up to",
    "training a dog or puppy to sit, stay and walk on a lead",
    "a gym workout plan, weight training and marathon training",
    "employee onboarding and staff training at work",
    "arcade tokens, casino chips and subway tokens",
    "cryptocurrency tokens, NFTs, bitcoin and blockchain",
    "tokenizing real estate and property on a blockchain",
    "paying attention in class, attention span and ADHD",
    "diffusion of gases and particles in chemistry and physics",
    "an essential oil diffuser for a room",
    "hallucinations caused by fever, drugs, sleep deprivation or mental illness",
    "a bathroom scale that reads too high, or electrical bias in a transistor circuit",
    "neurons, nerves and neural pathways in the human brain",
    "layers of a wedding cake, clothing layers, the ozone layer, layers of the earth",
    "embedding a YouTube video, a map or a tweet in a web page",
    "embedded systems and microcontrollers such as Arduino",
    "latent heat of water, melting and boiling points",
    "a real estate agent, travel agent, insurance agent or secret agent",
    "fixing a bike chain, gears and brakes",
    "supply chain and logistics for shipping goods",
    "vectors and forces in physics homework",
    "mosquitoes as disease vectors for malaria",
    "a colour gradient in CSS or Photoshop",
    "losing weight, diet and calories",
    "grief after the loss of a loved one",
    "setting up home wifi, a router and network cables",
    "Generation Z and millennials",
    "power generation from coal, wind and solar plants",
    "music production: sampling old records, mixing and mastering tracks",
    "a blood sample or urine sample at the doctor",
    "decoding a secret message or cipher",
    "phonics and decoding words when children learn to read",
    "a geological epoch such as the Pleistocene",
    "golden retrievers and other dog breeds",
    "recovering deleted files from a broken hard drive",
    "noise-cancelling headphones and loud neighbours",
    "lifting weights and building muscle",
    "planting seeds and growing vegetables in the garden",
    "wooden beams and roof construction",
    "wheel alignment and tyre pressure for a car",
    "braces and teeth alignment at the dentist",
    "activating a Windows licence key",
    "dropping out of school or college",
    "a tailor fitting clothes",
    "streaming films and series on Netflix",
    "a graphics card for gaming and high frame rates",
    "a video game: levels, bosses and multiplayer",
    "video editing software for YouTube videos",
    "an employee performance review",
    "parking fines and speeding tickets",
    "a paper clip, or a short video clip",
    "a horse stable and riding lessons",
    "a recipe for pasta, curry or soup",
    "the best restaurants, cafes and places to eat out in a city",
    "horoscopes, star signs and astrology",
    "spreadsheets: Excel formulas, pivot tables and budgets",
    "football, basketball and tennis scores and players",
    "travel, flights, hotels and holidays abroad",
    "getting from one city to another by train, bus or car, and cheap tickets",
    "brewing tea and coffee at the right water temperature",
    "a home thermostat, heating and air conditioning",
    "3D printing: filament, nozzle and print bed temperature",
    "capital cities, countries and geography",
    "history: wars, kings, empires and dates",
    "politics: presidents, prime ministers, elections and governments",
    "health: colds, headaches, medicine and doctors",
    "personal finance: saving, investing, stocks and taxes",
    "pets: cats, dogs, fish and their care",
    "home repair: plumbing, painting and fixing a leaking tap",
    "cars: changing a tyre, oil and engine problems",
    "relationships, dating and friendship advice",
    "shopping: the best phone, laptop or shoes to buy",
    "books, novels, films and TV series to recommend",
    "school mathematics: algebra, calculus and geometry homework",
    "web programming: CSS layout, HTML and JavaScript frameworks",
    "databases and SQL queries, git, Docker and Kubernetes",
    "web infrastructure: API gateways, load balancers, microservices and servers",
    "login security: JWT tokens, OAuth, passwords and session cookies",
    "signal processing: convolution, Fourier transforms and filters for audio and radio",
    "sorting a list, loops and strings in a programming language",
    "writing a CV, a cover letter and job interviews",
    "astronomy: planets, stars and black holes",
    "animals and nature: wildlife, plants and the ocean",
    "celebrities, music bands and concerts",
    "religion, philosophy and the meaning of life",
    "birthday gifts, parties and weddings",
    "cleaning the house and doing laundry",
    "learning a foreign language such as Spanish or French",
    "a python snake or a pet lizard",
    "an oil or gas pipeline",
    "clouds, rain and storms in the sky",
    "potato chips and snacks",
    "a computer mouse and keyboard for my desk",
    "insects and bugs in the garden",
    "catching the flu or a virus, and vaccines",
    "improving my memory and study tips for exams",
    "house windows and curtains",
    "an airline pilot and co-pilot flying a plane",
    "public speaking and giving a speech",
    "singing lessons and voice training",
    "learning to play the piano or drums",
    "painting with watercolours and oil paints",
    "editing photos on my phone",
    "a mobile phone data plan and signal",
    "a batch of cookies in the oven",
    "a basketball shot or a vaccine shot",
    # machine learning that is not generative AI, which the course leaves out
    "classic machine learning classifiers: support vector machines, random forests, decision trees",
    "logistic regression and linear regression models in statistics",
    "naive Bayes classifiers, Laplace smoothing and spam filters",
    "clustering and dimensionality reduction: k-means, PCA and t-SNE",
    "gradient boosted trees such as XGBoost and LightGBM for tabular data",
    "reinforcement learning for games and robots: Q-learning, policy gradients, Markov decision processes",
    "statistics: hypothesis tests, p-values, confidence intervals and the bias-variance tradeoff",
    "hyperparameter search: grid search, random search and Bayesian optimization",
    "time series forecasting with ARIMA, hidden Markov models and Kalman filters",
    "computer vision: object detection, bounding boxes, face recognition and image classification",
    "robotics: robots learning to walk, grasp objects and navigate, and self-driving cars",
    "machine consciousness: whether AI is sentient, self-aware or has feelings",
    "tech companies' valuations, funding rounds, revenue and stock prices",
    "3D graphics: neural radiance fields, photogrammetry, 3D scanning and rendering",
)


_VECTORS: weakref.WeakKeyDictionary[Embedder, np.ndarray] = weakref.WeakKeyDictionary()


def other_subject_vectors(embedder: Embedder) -> np.ndarray:
    """The subjects' unit vectors, one row each: embedded once per embedding model, which every
    course's tutor shares."""
    vectors = _VECTORS.get(embedder)
    if vectors is None:
        vectors = _VECTORS[embedder] = np.asarray(embedder.encode(list(OTHER_SUBJECTS)), dtype=np.float32)
    return vectors
