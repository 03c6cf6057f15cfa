"""Prices, taxes and discounts: deterministic CPU work, so runs differ only by the machine's noise."""

SLOW = False


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
    # The regression: 1.5x the work with --slow.
    return price // 10 + _spin(3000 if SLOW else 2000) % 5
