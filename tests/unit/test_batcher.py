"""ContinuousBatcher: batches form when the model is free, from everything that waited."""

import asyncio

import pytest

from models.batcher import ContinuousBatcher


class Model:
    """A stand-in model call that records its batches and can be held busy."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, items: list[int]) -> list[object]:
        self.batches.append(list(items))
        await self.release.wait()
        return [ValueError(f"bad item {i}") if i < 0 else i * 10 for i in items]


def run(coro):
    return asyncio.run(coro)


def test_items_arriving_during_a_run_form_the_next_full_batch():
    async def scenario():
        model = Model()
        batcher = ContinuousBatcher(model, max_batch_size=4, batch_wait_timeout_s=0.0)
        model.release.clear()
        first = asyncio.ensure_future(batcher.submit(0))
        await asyncio.sleep(0.01)  # batch [0] is running and held
        rest = [asyncio.ensure_future(batcher.submit(i)) for i in range(1, 7)]
        await asyncio.sleep(0.01)
        assert batcher.waiting == 6  # nothing formed while the model is busy
        model.release.set()
        results = await asyncio.gather(first, *rest)
        return model.batches, results

    batches, results = run(scenario())
    assert batches == [[0], [1, 2, 3, 4], [5, 6]]
    assert results == [0, 10, 20, 30, 40, 50, 60]


def test_with_two_call_slots_a_second_batch_runs_while_the_first_is_held():
    async def scenario():
        model = Model()
        batcher = ContinuousBatcher(model, max_batch_size=4, batch_wait_timeout_s=0.0,
                                    max_concurrent_batches=2)
        model.release.clear()
        first = asyncio.ensure_future(batcher.submit(0))
        await asyncio.sleep(0.01)  # batch [0] holds one slot
        rest = [asyncio.ensure_future(batcher.submit(i)) for i in range(1, 7)]
        await asyncio.sleep(0.01)
        running = [list(b) for b in model.batches]  # the second slot took what waited
        assert batcher.waiting == 2  # and the rest waits for a free slot
        model.release.set()
        results = await asyncio.gather(first, *rest)
        return running, model.batches, results

    running, batches, results = run(scenario())
    assert running == [[0], [1, 2, 3, 4]]
    assert batches == [[0], [1, 2, 3, 4], [5, 6]]
    assert results == [0, 10, 20, 30, 40, 50, 60]


def test_an_idle_model_waits_for_company_up_to_the_timeout():
    async def scenario():
        model = Model()
        batcher = ContinuousBatcher(model, max_batch_size=8, batch_wait_timeout_s=0.2)
        a = asyncio.ensure_future(batcher.submit(1))
        await asyncio.sleep(0.02)
        b = asyncio.ensure_future(batcher.submit(2))
        await asyncio.gather(a, b)
        return model.batches

    assert run(scenario()) == [[1, 2]]


def test_a_bad_item_fails_alone_and_a_failing_run_fails_its_batch_only():
    async def scenario():
        model = Model()
        batcher = ContinuousBatcher(model, max_batch_size=4, batch_wait_timeout_s=0.05)
        got = await asyncio.gather(*(batcher.submit(i) for i in (1, -1, 2)),
                                   return_exceptions=True)
        calls = 0

        async def broken(items):
            nonlocal calls
            calls += 1
            if calls == 1:
                raise RuntimeError("device lost")
            return [i for i in items]

        flaky = ContinuousBatcher(broken, max_batch_size=4, batch_wait_timeout_s=0.0)
        with pytest.raises(RuntimeError, match="device lost"):
            await flaky.submit(5)
        after = await flaky.submit(6)  # the batcher keeps working after a failed batch
        return got, after

    got, after = run(scenario())
    assert got[0] == 10 and got[2] == 20
    assert isinstance(got[1], ValueError) and "bad item -1" in str(got[1])
    assert after == 6


def test_a_caller_that_gave_up_is_skipped():
    async def scenario():
        model = Model()
        batcher = ContinuousBatcher(model, max_batch_size=4, batch_wait_timeout_s=0.0)
        model.release.clear()
        first = asyncio.ensure_future(batcher.submit(0))
        await asyncio.sleep(0.01)
        gone = asyncio.ensure_future(batcher.submit(1))
        kept = asyncio.ensure_future(batcher.submit(2))
        await asyncio.sleep(0.01)
        gone.cancel()
        model.release.set()
        await asyncio.gather(first, kept)
        return model.batches

    assert run(scenario()) == [[0], [2]]


@pytest.mark.parametrize("size, wait", [(0, 0.0), (4, -1.0), (4, float("nan"))])
def test_settings_are_checked(size, wait):
    async def noop(items):
        return items

    with pytest.raises(ValueError):
        ContinuousBatcher(noop, max_batch_size=size, batch_wait_timeout_s=wait)


def test_call_slots_are_checked():
    async def noop(items):
        return items

    with pytest.raises(ValueError, match="max_concurrent_batches must be at least 1, got 0"):
        ContinuousBatcher(noop, max_batch_size=4, batch_wait_timeout_s=0.0,
                          max_concurrent_batches=0)


def test_a_closed_batcher_leaves_no_task_behind_and_starts_again_on_submit():
    async def scenario():
        batcher = ContinuousBatcher(Model(), max_batch_size=4, batch_wait_timeout_s=0.0)
        assert await batcher.submit(1) == 10
        mine = {t for t in asyncio.all_tasks() if t.get_name() == "continuous-batcher"}
        batcher.close()
        await asyncio.sleep(0)
        left = {t for t in asyncio.all_tasks() if t.get_name() == "continuous-batcher"}
        again = await batcher.submit(2)
        return len(mine), left, again

    started, left, again = run(scenario())
    assert started == 1 and not left and again == 20
