"""A module holding instances, as a Flask app's module holds `app = Flask(__name__)`: targets through them, and
attribute names that are no variables."""


class Store:
    def __init__(self):
        self.items = {"apple": 3}

    def get(self, name):
        count = self.items.get(name.lower(), 0)
        return count

    @property
    def total(self):
        return 3


store = Store()
