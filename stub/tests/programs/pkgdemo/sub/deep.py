def deep_fn():
    return 42
