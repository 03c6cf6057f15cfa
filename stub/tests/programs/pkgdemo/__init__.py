from .core import api  # re-exported: profiling pkgdemo.** must still find it once, as pkgdemo.core.api
