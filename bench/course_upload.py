"""Uploading a 50-slide PDF as a server's course: time from the upload to the first answer from it,
and the answers the server kept giving from its old deck while the new one was indexed.

    python bench/course_upload.py [--pages 50]
"""

from __future__ import annotations

import argparse
import threading
import time

from _common import emit, percentile_ms, scratch_settings

from bot.domain.conversation import Key
from bot.domain.courses import Courses, CourseTutoring
from bot.domain.tutor import Tutor
from tests.course_files import BAKING_PAGES, make_pdf, numbered_pdf

GUILD = 4242


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=50)
    args = parser.parse_args()
    settings = scratch_settings()
    tutor, _ = Tutor.load(settings)
    courses = Courses(settings, tutor)
    courses.reset(GUILD)
    tutoring = CourseTutoring(courses)
    courses.add(GUILD, "baking.pdf", make_pdf(BAKING_PAGES))  # the server's old deck
    data = numbered_pdf(args.pages)

    served, latencies, stop = [], [], threading.Event()

    def keep_asking() -> None:  # a learner asking about the old deck all through the upload
        while not stop.is_set():
            started = time.perf_counter()
            reply = tutoring.respond(Key(str(GUILD), "c", "ana"), "what is a sourdough starter?")
            latencies.append(time.perf_counter() - started)
            served.append(reply.kind == "answer" and reply.slides == [1])
            time.sleep(0.1)

    asker = threading.Thread(target=keep_asking)
    asker.start()
    started = time.perf_counter()
    change = courses.add(GUILD, "earth-science.pdf", data)
    indexed_s = time.perf_counter() - started
    stop.set()
    asker.join()
    reply = tutoring.respond(Key(str(GUILD), "c", "ben"), "how does magma erupt from volcanoes?")
    first_answer_s = time.perf_counter() - started
    emit(
        {
            "bench": "course_upload",
            "pages": args.pages,
            "pdf_kb": round(len(data) / 1024),
            "slides_after": change.slides,
            "passages_embedded": change.report.embedded if change.report else None,
            "upload_to_indexed_s": round(indexed_s, 2),
            "upload_to_first_answer_s": round(first_answer_s, 2),
            "first_answer_from_upload": reply.kind != "decline" and any(n > 2 for n in reply.slides),
            "old_deck_answers_during_indexing": len(served),
            "old_deck_answers_right": sum(served),
            "old_deck_answer_p50_ms": percentile_ms(latencies, 50) if latencies else None,
        }
    )
    courses.reset(GUILD)


if __name__ == "__main__":
    main()
