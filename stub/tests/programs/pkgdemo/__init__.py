from .core import api  # noqa: F401  (re-exported: profiling pkgdemo.** must still find it once, as pkgdemo.core.api)
