from fleetplan.sim.kv_pool import KvPool


def test_take_give_and_watermark() -> None:
    pool = KvPool(100, 16, 0.05)
    assert pool.watermark_blocks == 5
    assert pool.can_admit(95) and not pool.can_admit(96)
    assert pool.take(90)
    assert not pool.take(11)
    pool.give(40)
    assert (pool.used, pool.free) == (50, 50)
    pool.check()


def test_prefix_cache_lifecycle_and_lru_eviction() -> None:
    pool = KvPool(100, 16, 0.0)
    assert pool.peek(7, 4) is None
    assert pool.take(6)  # a sequence computes a prefix of 4 blocks + 2 own blocks
    assert pool.publish(7, 4)
    assert not pool.publish(7, 4)  # already cached
    assert pool.lookup(7, 4)  # a second sequence shares it: no new blocks
    assert pool.used == 6 and pool.peek(7, 4) == 2
    pool.give(2)
    pool.release(7, 4)
    pool.release(7, 4)  # last reference: blocks stay cached, idle
    assert (pool.used, pool.idle, pool.free) == (0, 4, 96)
    pool.check()
    assert pool.lookup(7, 4) and pool.idle == 0 and pool.used == 4  # a hit on an idle prefix
    pool.release(7, 4)
    assert pool.take(98)  # needs 2 of the 4 idle blocks: the prefix is evicted
    assert pool.peek(7, 4) is None and pool.idle == 0
    pool.check()


def test_the_only_holder_of_a_cached_entry_takes_its_blocks_back() -> None:
    pool = KvPool(100, 16, 0.0)
    assert pool.take(10) and pool.publish(-5, 8)  # a preempted request's kept blocks ...
    pool.give(2)
    pool.release(-5, 8)
    assert (pool.used, pool.idle, pool.free) == (0, 8, 92)
    assert pool.lookup(-5, 8)  # ... found again when it is readmitted
    pool.unpublish(-5, 8)  # preempted again: its own blocks, no longer an entry
    assert pool.peek(-5, 8) is None and (pool.used, pool.idle) == (8, 0)
    pool.check()


def test_kept_blocks_are_evicted_tail_first_a_shared_prefix_whole() -> None:
    pool = KvPool(20, 16, 0.0)
    assert pool.take(4) and pool.publish(7, 4)  # a shared prefix ...
    pool.release(7, 4)
    assert pool.take(8) and pool.publish(-5, 8)  # ... then a preempted request's kept blocks
    pool.release(-5, 8)
    assert (pool.idle, pool.free, pool.kept(-5)) == (12, 8, 8)
    assert pool.take(15)  # the older shared prefix goes whole, then 3 of the kept blocks
    assert pool.peek(7, 4) is None
    assert pool.kept(-5) == 5 and pool.peek(-5, 5) == 0 and pool.peek(-5, 8) is None
    assert (pool.idle, pool.free) == (5, 0)
    pool.check()
    assert pool.take(5) and pool.kept(-5) == 0 and pool.idle == 0
    pool.check()
