"""Prices, taxes and discounts: deterministic CPU work, so runs differ only by the machine's noise."""

# How much more work `discount` does than in the baseline (`--slow`: 1.5, `--slow-factor F`: F).
SLOW_FACTOR = 1.0


def _spin(n: int) -> int:
    total = 0
    for i in range(n):
        total = (total * 31 + i) % 1_000_003
    return total


def base_price(item: int) -> int:
    return 100 + _spin(2000) % 7 + item


def tax(price: int) -> int:
    return price // 5 + _spin(1500) % 3


def discount(price: int) -> int:
    # The regression: SLOW_FACTOR times the work.
    return price // 10 + _spin(int(2000 * SLOW_FACTOR)) % 5
