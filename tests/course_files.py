"""Real deck files made in memory for course tests: PDFs (matplotlib) and PowerPoint (python-pptx)
on topics the bundled deck does not cover, so an answer from them can only come from the upload."""

from __future__ import annotations

import io

BAKING_PAGES = [
    [
        "Sourdough Starter",
        "Wild yeast at home",
        "Overview",
        "A sourdough starter is a fermented mix of flour and water that holds wild yeast and lactic bacteria.",
        "Feed the starter every day with equal weights of flour and water to keep the yeast active.",
        "FAQ",
        "Why does my starter smell sour?",
        "Lactic bacteria make acids that give sourdough its tangy smell.",
    ],
    [
        "Kneading Dough",
        "Building gluten",
        "Overview",
        "Kneading stretches and folds the dough so that gluten strands form and trap gas.",
        "Knead for about ten minutes until the dough is smooth and springs back when pressed.",
    ],
]

ESPRESSO_SLIDES = [
    (
        "Espresso Extraction",
        "Overview\nEspresso extraction forces hot water through finely ground coffee at nine bars of pressure.\n"
        "A shot that runs too fast tastes sour; grind the beans finer to slow it down.",
    ),
    ("Milk Steaming", "Overview\nSteaming milk stretches it with air to make microfoam for a latte."),
]


def make_pdf(pages: list[list[str]]) -> bytes:
    """A PDF with one page per list of lines (real text, readable by pypdf)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    buffer = io.BytesIO()
    with PdfPages(buffer) as pdf:
        for lines in pages:
            figure = plt.figure(figsize=(8.5, 11))
            for row, line in enumerate(lines):
                figure.text(0.05, 0.95 - row * 0.04, line, fontsize=8)
            pdf.savefig(figure)
            plt.close(figure)
    return buffer.getvalue()


def make_pptx(slides: list[tuple[str, str]]) -> bytes:
    from pptx import Presentation

    presentation = Presentation()
    for title, body in slides:
        slide = presentation.slides.add_slide(presentation.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text_frame.text = body
    buffer = io.BytesIO()
    presentation.save(buffer)
    return buffer.getvalue()


def numbered_pdf(count: int) -> bytes:
    """A ``count``-page lecture, one distinct topic a page (for timing a big upload)."""
    topics = [
        ("Photosynthesis", "Plants turn light, water and carbon dioxide into sugar and oxygen."),
        ("Plate Tectonics", "The crust is made of plates that drift a few centimetres a year."),
        ("Volcanoes", "Magma rising through the crust erupts as lava, ash and gas."),
        ("Tides", "The moon's gravity pulls the oceans and makes two tides a day."),
        ("Glaciers", "Snow pressed over centuries becomes ice that flows downhill."),
    ]
    pages = []
    for page in range(1, count + 1):
        title, fact = topics[page % len(topics)]
        pages.append(
            [
                f"{title} part {page}",
                f"Lecture page {page}",
                "Overview",
                f"{fact} This is page {page} of the earth science lecture.",
                f"Key idea {page}: every page of the lecture adds one more fact about {title.lower()}.",
            ]
        )
    return make_pdf(pages)
