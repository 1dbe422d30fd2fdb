"""Worker processes held to a time and a memory limit (bot.domain.isolation), called with plain
standard-library functions so each case is exactly what it says."""

from __future__ import annotations

import pytest

from bot.domain import isolation


@pytest.fixture
def workers():
    pool = isolation.Workers("json", size=1)
    yield pool
    pool.close()


def call(pool, function, *args, seconds=30.0, memory_mb=512):
    return pool.call(function, list(args), seconds=seconds, memory_mb=memory_mb)


def test_a_worker_is_reused_and_answers_in_json(workers):
    pid = call(workers, "os:getpid")
    assert call(workers, "os:getpid") == pid
    assert call(workers, "json:loads", '{"a": [1, "\\u00e9"]}') == {"a": [1, "é"]}


def test_a_call_past_its_time_is_killed_with_its_worker_and_the_next_gets_a_fresh_one(workers):
    pid = call(workers, "os:getpid")
    with pytest.raises(isolation.TookTooLong, match=r"^took longer than 1 s$"):
        call(workers, "time:sleep", 600, seconds=1)
    assert call(workers, "os:getpid") != pid


def test_a_call_past_its_memory_ends_its_worker_and_the_next_gets_a_fresh_one(workers):
    pid = call(workers, "os:getpid")
    with pytest.raises(isolation.NeededTooMuchMemory, match=r"^needed more than 256 MB$"):
        call(workers, "os:urandom", 512 << 20, memory_mb=256)
    assert call(workers, "os:getpid") != pid


def test_a_result_that_is_not_json_is_an_error_and_the_worker_stays(workers):
    pid = call(workers, "os:getpid")
    with pytest.raises(isolation.Raised, match=r"^TypeError: the result is not JSON"):
        call(workers, "os:urandom", 8)
    assert call(workers, "os:getpid") == pid


def test_an_exception_comes_back_by_type_and_message_and_the_worker_stays(workers):
    pid = call(workers, "os:getpid")
    with pytest.raises(isolation.Raised) as raised:
        call(workers, "math:factorial", -1)
    assert raised.value.kind == "ValueError" and "negative" in raised.value.message
    assert call(workers, "os:getpid") == pid


def test_a_worker_that_dies_is_reported_and_replaced(workers):
    with pytest.raises(isolation.WorkerDied, match=r"exit code 3"):
        call(workers, "os:_exit", 3)
    assert isinstance(call(workers, "os:getpid"), int)


def test_start_begins_the_workers_before_the_first_call(workers):
    workers.start()
    [started] = list(workers._idle.queue)
    assert started is not None and started.alive
    assert call(workers, "os:getpid") == started.process.pid


def test_a_worker_ends_when_its_parent_closes_the_pool():
    pool = isolation.Workers("json", size=1)
    call(pool, "os:getpid")
    [worker] = list(pool._idle.queue)
    pool.close()
    assert worker.process.poll() is not None
    with pytest.raises(isolation.WorkerDied):
        call(pool, "os:getpid")


def test_a_result_of_megabytes_comes_back_whole(workers):
    assert call(workers, "operator:mul", "é", 3_000_000) == "é" * 3_000_000
    assert call(workers, "os:getpid") > 0
