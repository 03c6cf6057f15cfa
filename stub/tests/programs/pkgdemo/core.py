def api(x):
    return helper(x)


def helper(x):
    return x * 3


class Service:
    def handle(self, x):
        return api(x)
