import pytest

from fleetplan.sim.engine import PRIORITY_ARRIVAL, PRIORITY_SAMPLE, PRIORITY_STEP, EventLoop


def test_same_time_events_run_by_priority_then_schedule_order() -> None:
    loop = EventLoop()
    seen: list[str] = []
    log = lambda t, name: seen.append(f"{t:g}:{name}")  # noqa: E731
    loop.schedule(1.0, PRIORITY_SAMPLE, log, "sample")
    loop.schedule(1.0, PRIORITY_ARRIVAL, log, "arrival-a")
    loop.schedule(1.0, PRIORITY_STEP, log, "step")
    loop.schedule(1.0, PRIORITY_ARRIVAL, log, "arrival-b")
    loop.schedule(0.5, PRIORITY_SAMPLE, log, "early")
    loop.run()
    assert seen == ["0.5:early", "1:step", "1:arrival-a", "1:arrival-b", "1:sample"]
    assert loop.events == 5 and loop.now == 1.0


def test_handlers_schedule_more_and_until_stops() -> None:
    loop = EventLoop()
    seen: list[float] = []

    def tick(t: float, n: int) -> None:
        seen.append(t)
        if n:
            loop.schedule(t + 1.0, PRIORITY_STEP, tick, n - 1)

    loop.schedule(0.0, PRIORITY_STEP, tick, 10)
    loop.run(until_s=3.5)
    assert seen == [0.0, 1.0, 2.0, 3.0]
    assert len(loop) == 1
    loop.run()
    assert seen[-1] == 10.0


def test_scheduling_in_the_past_fails() -> None:
    loop = EventLoop()
    loop.schedule(2.0, PRIORITY_STEP, lambda t, p: loop.schedule(1.0, 0, lambda *_: None))
    with pytest.raises(ValueError, match="past"):
        loop.run()


def test_counters_are_per_loop() -> None:
    a, b = EventLoop(), EventLoop()
    order: list[str] = []
    a.schedule(1.0, 0, lambda t, p: order.append(p), "a1")
    b.schedule(1.0, 0, lambda t, p: order.append(p), "b1")
    a.schedule(1.0, 0, lambda t, p: order.append(p), "a2")
    b.run()
    a.run()
    assert order == ["b1", "a1", "a2"]


def test_the_loop_stops_past_its_event_cap() -> None:
    loop = EventLoop()

    def tick(t: float, _: object) -> None:
        loop.schedule(t + 1.0, PRIORITY_STEP, tick)

    loop.schedule(0.0, PRIORITY_STEP, tick)
    with pytest.raises(OverflowError, match="11"):
        loop.run(max_events=10, on_over=lambda n: OverflowError(str(n)))
    assert loop.events == 11
