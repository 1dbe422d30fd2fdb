"""Reading a question asked in Spanish, French, German, Italian, Portuguese or Dutch.

The embedding model reads English only, so a question in another language is searched by its words
the deck would use: technical terms learners keep in English ("RAG", "token"), and the course's own
terms in those languages, put into English ("alucinaciones" -> "hallucinations"). The answer stays
in English (the slides are), with a note saying so.
"""

from __future__ import annotations

import re
import unicodedata

# The course's terms, accents left out (questions are compared without them), longest first where
# one holds another. Plurals are listed where they are not the singular plus "s".
_TERMS: dict[str, tuple[str, ...]] = {
    "retrieval-augmented generation": (
        "generacion aumentada por recuperacion",
        "generation augmentee par recuperation",
        "generazione aumentata dal recupero",
        "generazione aumentata da recupero",
        "geracao aumentada por recuperacao",
        "abruf-erweiterte generierung",
    ),
    "reinforcement learning from human feedback": (
        "aprendizaje por refuerzo a partir de retroalimentacion humana",
        "aprendizaje por refuerzo con retroalimentacion humana",
        "apprentissage par renforcement a partir de retours humains",
        "aprendizado por reforco a partir de feedback humano",
        "apprendimento per rinforzo dal feedback umano",
    ),
    "reinforcement learning": (
        "aprendizaje por refuerzo",
        "apprentissage par renforcement",
        "aprendizado por reforco",
        "apprendimento per rinforzo",
        "bestarkendes lernen",
    ),
    "generative AI": (
        "inteligencia artificial generativa",
        "intelligence artificielle generative",
        "intelligenza artificiale generativa",
        "ia generativa",
        "ia generative",
        "generative ki",
        "generativer ki",
    ),
    "artificial intelligence": (
        "inteligencia artificial",
        "intelligence artificielle",
        "intelligenza artificiale",
        "kunstliche intelligenz",
    ),
    "large language model": (
        "gran modelo de lenguaje",
        "grand modele de langage",
        "grande modello linguistico",
        "modello linguistico di grandi dimensioni",
        "modelo de lenguaje grande",
        "modele de langage de grande taille",
        "grande modelo de linguagem",
        "grosses sprachmodell",
    ),
    "large language models": (
        "grandes modelos de lenguaje",
        "grands modeles de langage",
        "grandi modelli linguistici",
        "grandes modelos de linguagem",
        "grosse sprachmodelle",
        "grossen sprachmodelle",
        "grote taalmodellen",
    ),
    "language models": (
        "modelos de lenguaje",
        "modeles de langage",
        "modelli linguistici",
        "modelos de linguagem",
        "sprachmodelle",
        "sprachmodellen",
        "taalmodellen",
    ),
    "language model": (
        "modelo de lenguaje",
        "modele de langage",
        "modello linguistico",
        "modello di linguaggio",
        "modelo de linguagem",
        "sprachmodell",
        "taalmodel",
    ),
    "variational autoencoder": (
        "autoencodeur variationnel",
        "autocodificador variacional",
        "autoencoder variacional",
        "autoencoder variazionale",
        "variationaler autoencoder",
        "variationeel autoencoder",
    ),
    "autoencoder": ("autoencodeur", "autocodificador", "autoencodificador"),
    "neural network": (
        "red neuronal",
        "redes neuronales",
        "reseau de neurones",
        "reseau neuronal",
        "rete neurale",
        "reti neurali",
        "rede neural",
        "neuronales netz",
        "neuronale netze",
    ),
    "fine-tuning": ("ajuste fino", "reglage fin", "affinage", "ottimizzazione fine", "feinabstimmung"),
    "prompt engineering": (
        "ingenieria de prompts",
        "ingenierie de prompt",
        "ingegneria dei prompt",
        "engenharia de prompt",
    ),
    "context window": (
        "ventana de contexto",
        "fenetre de contexte",
        "finestra di contesto",
        "janela de contexto",
        "kontextfenster",
    ),
    "latent space": ("espacio latente", "espace latent", "spazio latente", "latenter raum"),
    "copyright": (
        "derechos de autor",
        "droit d'auteur",
        "droits d'auteur",
        "diritto d'autore",
        "direitos autorais",
        "urheberrecht",
    ),
    "training data": (
        "datos de entrenamiento",
        "donnees d'entrainement",
        "dati di addestramento",
        "dados de treinamento",
        "trainingsdaten",
    ),
    "gradient descent": (
        "descenso de gradiente",
        "descenso del gradiente",
        "descente de gradient",
        "discesa del gradiente",
        "discesa di gradiente",
        "descida do gradiente",
        "descida de gradiente",
        "gradientenabstieg",
        "gradientenverfahren",
    ),
    "loss function": (
        "funcion de perdida",
        "fonction de perte",
        "funzione di perdita",
        "funcao de perda",
        "verlustfunktion",
    ),
    "next token": (
        "siguiente token",
        "proximo token",
        "prochain token",
        "token suivant",
        "prossimo token",
        "token successivo",
        "nachste token",
        "nachsten token",
    ),
    "generative model": (
        "modelo generativo",
        "modele generatif",
        "modello generativo",
        "generatives modell",
        "generatief model",
    ),
    "generative models": (
        "modelos generativos",
        "modeles generatifs",
        "modelli generativi",
        "generative modelle",
        "generativen modelle",
    ),
    "prediction": ("prediccion", "prevision", "previsione", "predizione", "previsao", "predicao", "vorhersage"),
    "vector search": (
        "busqueda vectorial",
        "recherche vectorielle",
        "ricerca vettoriale",
        "busca vetorial",
        "pesquisa vetorial",
        "vektorsuche",
    ),
    "keyword search": (
        "busqueda por palabras clave",
        "recherche par mots-cles",
        "recherche par mots cles",
        "ricerca per parole chiave",
        "busca por palavras-chave",
        "stichwortsuche",
        "schlusselwortsuche",
    ),
    "vector database": (
        "base de datos vectorial",
        "base de donnees vectorielle",
        "database vettoriale",
        "banco de dados vetorial",
        "vektordatenbank",
        "vectordatabase",
    ),
    "database": ("base de datos", "base de donnees", "banco de dados", "datenbank"),
    "image generation": (
        "generacion de imagenes",
        "generation d'images",
        "generazione di immagini",
        "geracao de imagens",
        "bildgenerierung",
        "bilderzeugung",
    ),
    "diffusion models": (
        "modelos de difusion",
        "modeles de diffusion",
        "modelli di diffusione",
        "modelos de difusao",
        "diffusionsmodelle",
        "diffusionsmodellen",
    ),
    "traditional AI": (
        "ia clasica",
        "ia classique",
        "ia classica",
        "klassische ki",
        "klassischer ki",
        "klassischen ki",
    ),
    "AI agents": ("agentes de ia", "agents d'ia", "agenti di ia", "agenti ia", "ki-agenten", "ki agenten"),
    "families": ("familias", "familles", "famiglie", "familien"),
    "knowledge": (
        "conocimiento",
        "conocimientos",
        "connaissance",
        "connaissances",
        "conoscenza",
        "conhecimento",
        "wissen",
    ),
    "ethical": (
        "etico",
        "eticos",
        "etica",
        "eticas",
        "ethique",
        "ethiques",
        "etici",
        "ethisch",
        "ethische",
        "ethischen",
    ),
    "evaluate": (
        "evaluar",
        "evalua",
        "evaluan",
        "evaluer",
        "evalue",
        "evaluent",
        "valutare",
        "valuta",
        "valutano",
        "avaliar",
        "avalia",
        "avaliam",
        "bewerten",
        "bewertet",
        "evalueren",
    ),
    "problems": ("problemas", "problemes", "problemi", "probleme", "problemen"),
    "data": ("datos", "donnees", "dati", "dados", "daten"),
    "train": ("entrenar", "entrainer", "addestrare", "treinar", "trainieren", "trainiert"),
    "weights": ("pesos", "poids", "pesi", "gewichte"),
    "parameters": ("parametros", "parametres", "parametri", "parameter"),
    "layers": ("capas", "couches", "strati", "camadas", "schichten"),
    "vector": ("vecteur", "vettore", "vetor", "vektor"),
    "vectors": ("vectores", "vecteurs", "vettori", "vetores", "vektoren"),
    "text": ("texto", "texte", "testo"),
    "music": ("musica", "musique", "musik"),
    "voice": ("voz", "voix", "voce", "stimme"),
    "video": ("videos", "vidéo"),
    "traditional": ("tradicional", "traditionnelle", "traditionnel", "tradizionale", "traditionelle"),
    "metrics": ("metricas", "metriques", "metriche", "metriken"),
    "word": ("palabra", "mot", "parola", "palavra", "wort"),
    "words": ("palabras", "mots", "parole", "palavras", "worter"),
    "hallucinate": (
        "alucinan",
        "alucina",
        "hallucinent",
        "hallucine",
        "allucinano",
        "allucina",
        "alucinam",
        "halluzinieren",
        "halluziniert",
        # "los modelos inventan información": made up, as a hallucination is (not "invento", "inventé": invented)
        "inventan",
        "inventa",
        "inventent",
        "inventano",
        "inventam",
        "erfinden",
        "erfindet",
        "verzinnen",
        "verzint",
    ),
    "hallucination": ("alucinacion", "allucinazione", "alucinacao", "halluzination"),
    "hallucinations": ("alucinaciones", "allucinazioni", "alucinacoes", "halluzinationen"),
    "embedding": ("incrustacion", "plongement", "incorporamento", "einbettung"),
    "embeddings": ("incrustaciones", "plongements", "incorporamenti", "einbettungen"),
    "self-attention": (
        "autoatencion",
        "auto-atencion",
        "auto-attention",
        "autoattenzione",
        "auto-attenzione",
        "autoatencao",
        "auto-atencao",
        "selbstaufmerksamkeit",
        "zelfaandacht",
    ),
    "mechanism": ("mecanismo", "mecanisme", "meccanismo", "mechanismus", "mechanisme"),
    "perplexity": ("perplejidad", "perplexite", "perplessita", "perplexidade", "perplexitat", "perplexiteit"),
    "facts": ("hechos", "faits", "fatti", "fatos", "fakten", "feiten"),
    "attention": ("atencion", "attenzione", "atencao", "aufmerksamkeit"),
    "transformer": ("transformeur", "transformador", "trasformatore"),
    "transformers": ("transformeurs", "transformadores", "trasformatori"),
    "in AI": ("en ia", "em ia", "en la ia", "na ia", "dans l'ia", "nell'ia", "in der ki", "bei ki", "bei der ki"),
    "AI": ("ia", "ki"),
    "temperature": ("temperatura", "temperatur"),
    "sampling": ("muestreo", "echantillonnage", "campionamento", "amostragem"),
    "diffusion": ("difusion", "diffusione", "difusao"),
    "tokenization": ("tokenizacion", "tokenizzazione", "tokenizacao", "tokenisierung"),
    "bias": ("sesgo", "sesgos", "biais", "pregiudizio", "vies", "verzerrung"),
    "ethics": ("etica", "ethique", "ethik"),
    "evaluation": ("evaluacion", "valutazione", "avaliacao", "bewertung"),
    "training": ("entrenamiento", "entrainement", "addestramento", "treinamento"),
    "learning": ("aprendizaje", "apprentissage", "apprendimento", "aprendizado", "lernen"),
    "image": ("imagen", "immagine", "imagem", "bild"),
    "images": ("imagenes", "immagini", "imagens", "bilder"),
    "audio": ("suono", "som"),
    "history": ("historia", "histoire", "storia", "geschichte"),
    "safety": ("seguridad", "securite", "sicurezza", "seguranca", "sicherheit"),
    "risks": ("riesgos", "risques", "rischi", "riscos", "risiken"),
    "generate": ("generar", "genera", "generer", "genere", "generare", "gerar", "gera", "generieren", "generiert"),
    "create": (
        "crear",
        "crea",
        "creer",
        "cree",
        "creare",
        "criar",
        "cria",
        "erstellen",
        "erstellt",
        "erzeugen",
        "erzeugt",
    ),
    "get started": (
        "empezar",
        "empiezo",
        "comenzar",
        "comienzo",
        "commencer",
        "commence",
        "iniziare",
        "inizio",
        "comecar",
        "comeco",
        "anfangen",
        "beginnen",
    ),
    "learn": (
        "aprender",
        "aprende",
        "aprenden",
        "apprendre",
        "apprend",
        "apprennent",
        "imparare",
        "impara",
        "imparano",
        "aprendem",
        "lernt",
        "leert",
    ),
    # "dans un LLM": the word that keeps "temperature in an LLM" from reading as "temperature LLM"
    "in": ("dans un", "dans une", "dans le", "dans la", "dans les", "nel", "nella", "nei", "in einem", "in einer"),
    "companies": ("empresas", "entreprises", "aziende", "unternehmen"),
    "applications": ("aplicaciones", "applicazioni", "aplicacoes", "anwendungen"),
    "art": ("arte", "kunst"),
    "model": ("modelo", "modele", "modello", "modell"),
    "models": ("modelos", "modeles", "modelli", "modelle"),
    "agent": ("agente",),
    "agents": ("agentes", "agenti"),
}
# French and Italian elisions: "qu'un token" -> "token", "l'attention" -> "attention"
_ELISION = re.compile(r"\b(?:qu|l|d|j|n|s|c|un|dell|all|sull|nell|dall)['’](?=\w)")
# keyed as questions read once their elisions are dropped: "droit d'auteur" is matched as "droit auteur"
_ENGLISH = {_ELISION.sub("", foreign): english for english, foreigns in _TERMS.items() for foreign in foreigns}
# The words the course's terms are put into: kept as asked even where the deck words them
# otherwise ("ethical" for its "ethics")
TERM_WORDS = frozenset(word for english in _TERMS for word in re.findall(r"[\w'-]+", english.casefold()))
_PHRASES = re.compile(r"\b(" + "|".join(re.escape(f) for f in sorted(_ENGLISH, key=len, reverse=True)) + r")\b")


def without_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def fold_foreign(text: str) -> str:
    """``text`` casefolded, without accents, or the elisions of French and Italian ("qu'un" -> "un")."""
    return _ELISION.sub("", without_accents(text.casefold()).replace("’", "'"))


def course_terms_in(text: str) -> int:
    """How many of the course's terms ``text`` writes in another language: "modelli", "ia
    generativa"; not "videos", spelled the same in English but for its plural."""

    def foreign(found: str) -> bool:
        english = _ENGLISH[found].casefold()
        return found not in (english, f"{english}s", english.removesuffix("s"))

    return sum(map(foreign, _PHRASES.findall(fold_foreign(text))))


def in_english(text: str) -> str:
    """``text`` folded, without accents or elisions, with the course's terms put into English;
    other words left as they are (for the caller to drop)."""
    return _PHRASES.sub(lambda match: _ENGLISH[match[1]], fold_foreign(text))
