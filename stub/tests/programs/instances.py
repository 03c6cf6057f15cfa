"""A module holding instances, as a Flask app's module holds `app = Flask(__name__)`: targets through them."""


class Store:
    def get(self, name):
        return name.lower()

    @property
    def total(self):
        return 3


store = Store()
