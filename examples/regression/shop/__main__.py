"""``python -m shop [--orders N] [--slow | --slow-factor F] [--exit CODE]``: checks out N orders of three items."""

import argparse
import sys

from shop import pricing


def checkout(order: int) -> int:
    total = 0
    for item in range(3):
        price = pricing.base_price(order + item)
        total += price + pricing.tax(price) - pricing.discount(price)
    return total


def main() -> int:
    parser = argparse.ArgumentParser(prog="shop")
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--slow", action="store_true", help="make pricing.discount 1.5x slower")
    parser.add_argument("--slow-factor", type=float, default=None, help="make pricing.discount F times slower")
    parser.add_argument("--exit", type=int, default=0, help="exit with this code (tests)")
    args = parser.parse_args()
    pricing.SLOW_FACTOR = args.slow_factor if args.slow_factor is not None else (1.5 if args.slow else 1.0)
    print("total", sum(checkout(o) for o in range(args.orders)))
    return args.exit


sys.exit(main())
