"""Counter arithmetic for zone traffic: wraps, resets, reboots and bogus jumps."""

from __future__ import annotations

from domain.traffic import Reading, ZoneTraffic


def test_growth_wrap_reboot_and_reset() -> None:
    z = ZoneTraffic("ZD-01")
    assert z.update(Reading(0, 1000, 500, 100, 32), "2025-01-01") == (0.0, 0.0)  # baseline
    assert z.update(Reading(60, 4000, 900, 160, 32), "2025-01-01") == (3000.0, 400.0)
    # 32-bit wrap: from 2**32 - 100 to 50 is 150 bytes.
    z.update(Reading(120, 2**32 - 100, 1000, 220, 32), "2025-01-01")
    assert z.update(Reading(180, 50, 1100, 280, 32), "2025-01-01") == (150.0, 100.0)
    assert z.wraps == 1
    # Reboot: uptime went back, counters restarted at zero.
    assert z.update(Reading(240, 700, 80, 5, 32), "2025-01-01") == (700.0, 80.0)
    assert z.resets == 1
    # A 64-bit counter going back without a reboot was reset.
    z64 = ZoneTraffic("ZD-02")
    z64.update(Reading(0, 10**12, 10**9, 100, 64), "2025-01-01")
    assert z64.update(Reading(60, 500, 10**9 + 10, 160, 64), "2025-01-01") == (500.0, 10.0)
    assert z64.resets == 1


def test_reboot_seen_even_when_uptime_is_now_larger() -> None:
    z = ZoneTraffic("ZD-01")
    z.update(Reading(0, 5000, 0, 30, 64), "d")
    # 300 s later the agent says it has been up 120 s: it restarted 180 s ago, counters from zero.
    assert z.update(Reading(300, 6000, 0, 120, 64), "d") == (6000.0, 0.0)
    assert z.resets == 1
    # A normal reading: uptime advanced with our clock.
    assert z.update(Reading(360, 6500, 0, 180.3, 64), "d") == (500.0, 0.0)


def test_totals_per_day_and_peak_clients() -> None:
    z = ZoneTraffic("ZD-01")
    z.update(Reading(0, 0, 0, 1, 64), "2025-01-01", clients=3)
    z.update(Reading(60, 100, 10, 61, 64), "2025-01-01", clients=9)
    z.update(Reading(120, 300, 30, 121, 64), "2025-01-02", clients=4)
    assert (z.day, z.day_rx, z.day_tx, z.day_peak_clients) == ("2025-01-02", 200.0, 20.0, 4)
    assert (z.rx_total, z.tx_total) == (300.0, 30.0)


def test_jump_beyond_bandwidth_is_refused() -> None:
    z = ZoneTraffic("ZD-01", bandwidth_bytes_per_second=12.5e6)  # 100 Mbps
    z.update(Reading(0, 0, 0, 1, 64), "d")
    assert z.update(Reading(60, 10**13, 0, 61, 64), "d") == (0.0, 0.0)
    assert z.refused == 1
    assert z.update(Reading(120, 10**13 + 1000, 0, 121, 64), "d") == (1000.0, 0.0)
